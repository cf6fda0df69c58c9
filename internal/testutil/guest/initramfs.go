package guest

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// BaseModules are what a banger guest on QEMU microvm needs: the virtio-mmio
// transport, block, console (virtio-serial ports) and entropy drivers, and
// the ACPI power button with evdev so a guest can see a power-off request.
var BaseModules = []string{"virtio_mmio", "virtio_blk", "virtio_console", "virtio_rng", "button", "evdev"}

// Initramfs describes a busybox initramfs.
type Initramfs struct {
	// Modules are loaded with insmod, dependencies first, before Script.
	Modules []string
	// Script is shell code /init runs after mounting /proc, /sys and /dev
	// and loading the modules. When it ends, /init powers the guest off.
	Script string
	// Files are extra files by absolute guest path (mode 0755).
	Files map[string][]byte
}

// initPreamble mounts the pseudo file systems and loads the modules; a
// failed insmod is reported on the console, so a test's failure message
// can show it.
const initPreamble = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in %s; do
	insmod /lib/modules/$m.ko || echo "guest: insmod $m failed"
done
echo "guest: modules loaded"
`

// initEpilogue runs when the script returns: the guest powers off (ACPI),
// which ends QEMU with status 0.
const initEpilogue = `
echo "guest: script ended, powering off"
sync
poweroff -f
`

// Build writes the initramfs (gzip-compressed newc cpio) into a new
// temporary directory of t and returns its path.
func Build(t testing.TB, k Kernel, ir Initramfs) string {
	t.Helper()
	data, err := build(t, k, ir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "initrd.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t testing.TB, k Kernel, ir Initramfs) ([]byte, error) {
	bb, err := staticBusybox(t)
	if err != nil {
		return nil, err
	}
	mods, err := k.Modules(ir.Modules...)
	if err != nil {
		return nil, err
	}
	entries := map[string]entry{
		"/bin/busybox": {mode: modeFile | 0o755, data: bb},
		"/dev/console": {mode: modeChar | 0o600, rdev: [2]uint32{5, 1}},
	}
	var names []string
	for _, m := range mods {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w", m.Name, err)
		}
		entries["/lib/modules/"+m.Name+".ko"] = entry{mode: modeFile | 0o644, data: b}
		names = append(names, m.Name)
	}
	script := fmt.Sprintf(initPreamble, strings.Join(names, " ")) + ir.Script + initEpilogue
	entries["/init"] = entry{mode: modeFile | 0o755, data: []byte(script)}
	for p, b := range ir.Files {
		entries[p] = entry{mode: modeFile | 0o755, data: b}
	}
	addParents(entries, "/proc", "/sys", "/tmp", "/run")

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := writeCPIO(zw, entries); err != nil {
		return nil, fmt.Errorf("write initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// addParents adds the given directories and every missing parent directory
// of the entries.
func addParents(entries map[string]entry, dirs ...string) {
	for _, d := range dirs {
		entries[d] = entry{mode: modeDir | 0o755}
	}
	for p := range entries {
		for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := entries[d]; !ok {
				entries[d] = entry{mode: modeDir | 0o755}
			}
		}
	}
}

// staticBusybox returns the host's busybox binary, which must be static
// (busybox-static): the initramfs has no libc.
func staticBusybox(t testing.TB) ([]byte, error) {
	p := testutil.RequireBinary(t, "busybox", "busybox-static")
	f, err := elf.Open(p)
	if err != nil {
		return nil, fmt.Errorf("busybox %s: %w", p, err)
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			testutil.Skip(t, p+" is dynamically linked; install busybox-static")
		}
	}
	return os.ReadFile(p)
}
