// Package guest builds tiny bootable guests for VM tests: the Debian cloud
// kernel (extracted once per machine from the package testutil downloads)
// and a busybox-static initramfs whose /init loads the kernel modules a
// test names and then runs the test's shell script.
//
// The Debian cloud kernel builds its virtio drivers as modules and ships no
// modules.dep, so dependencies are read from each module's .modinfo section
// (depends=) and loaded in order with insmod; no modprobe or udev is needed.
// Everything here is test fixture code, shared by the VMM, networking and
// daemon tests that boot real guests.
package guest

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// Kernel is an extracted kernel package.
type Kernel struct {
	// Version is the kernel release, e.g. "6.1.0-56-cloud-amd64".
	Version string
	// BzImage is the compressed kernel (boot/vmlinuz-VERSION).
	BzImage string
	// Vmlinux is the uncompressed ELF kernel unpacked from BzImage.
	Vmlinux string
	// ModulesDir is lib/modules/VERSION.
	ModulesDir string
}

// DebianKernel returns the Debian cloud kernel, extracted (once per machine,
// under testutil.CacheDir) from the package testutil.DebianKernelDebs
// downloads. It skips, like DebianKernelDebs, when the package cannot be had.
func DebianKernel(t testing.TB) Kernel {
	t.Helper()
	deb := testutil.DebianKernelDebs(t)
	testutil.RequireBinary(t, "dpkg-deb", "dpkg")
	base := strings.TrimSuffix(filepath.Base(deb), ".deb")
	dir := filepath.Join(testutil.CacheDir(t), "debian-kernel", "extracted", base)
	if _, err := os.Stat(filepath.Join(dir, ".done")); err != nil {
		extract(t, deb, dir)
	}
	vmlinuz, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(vmlinuz) != 1 {
		t.Fatalf("kernel package %s: want one boot/vmlinuz-*, found %v", deb, vmlinuz)
	}
	version := strings.TrimPrefix(filepath.Base(vmlinuz[0]), "vmlinuz-")
	vmlinux := filepath.Join(dir, "vmlinux")
	if _, err := os.Stat(vmlinux); err != nil {
		tmp := fmt.Sprintf("%s.tmp-%d", vmlinux, os.Getpid())
		if err := unpackVmlinux(vmlinuz[0], tmp); err != nil {
			t.Fatalf("unpack vmlinux from %s: %v", vmlinuz[0], err)
		}
		if err := os.Rename(tmp, vmlinux); err != nil {
			t.Fatal(err)
		}
	}
	return Kernel{
		Version:    version,
		BzImage:    vmlinuz[0],
		Vmlinux:    vmlinux,
		ModulesDir: filepath.Join(dir, "lib", "modules", version),
	}
}

// extract unpacks deb into dir atomically (a temp dir renamed into place),
// so parallel test binaries and interrupted runs never see half a tree.
func extract(t testing.TB, deb, dir string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".extract-") //nolint:usetesting // lives in the shared cache
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	cmd := exec.CommandContext(context.Background(), "dpkg-deb", "-x", deb, tmp)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test binary may have won the race; its tree is complete.
		if _, serr := os.Stat(filepath.Join(dir, ".done")); serr != nil {
			t.Fatalf("install extracted kernel: %v", err)
		}
	}
}

// Module is one kernel module file.
type Module struct {
	// Name is the module name (underscores, as in depends= and lsmod).
	Name string
	// Path is the .ko file.
	Path string
}

// Modules returns the named modules and everything they depend on, in
// load order (dependencies first, each once).
func (k Kernel) Modules(names ...string) ([]Module, error) {
	index := map[string]string{}
	err := filepath.WalkDir(k.ModulesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			index[modName(strings.TrimSuffix(d.Name(), ".ko"))] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules of %s: %w", k.Version, err)
	}
	var order []Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = modName(name)
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		}
		path, ok := index[name]
		if !ok {
			return fmt.Errorf("module %s not found in %s (needed by %v)", name, k.ModulesDir, chain)
		}
		state[name] = 1
		deps, err := moduleDepends(path)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, Module{Name: name, Path: path})
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// modName normalises a module file name to its module name.
func modName(s string) string { return strings.ReplaceAll(s, "-", "_") }

// moduleDepends reads depends= from a module's .modinfo section.
func moduleDepends(path string) ([]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module %s .modinfo: %w", path, err)
	}
	return parseDepends(data), nil
}

// parseDepends extracts the depends= list from NUL-separated key=value
// strings.
func parseDepends(modinfo []byte) []string {
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			var deps []string
			for d := range strings.SplitSeq(string(v), ",") {
				if d = strings.TrimSpace(d); d != "" {
					deps = append(deps, d)
				}
			}
			return deps
		}
	}
	return nil
}
