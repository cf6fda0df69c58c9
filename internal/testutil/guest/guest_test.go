package guest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

func TestParseDepends(t *testing.T) {
	tests := []struct {
		modinfo string
		want    []string
	}{
		{"license=GPL\x00depends=virtio,virtio_ring\x00name=virtio_mmio\x00", []string{"virtio", "virtio_ring"}},
		{"depends=\x00name=virtio_ring\x00", nil},
		{"name=x\x00", nil},
		{"depends= a , b,\x00", []string{"a", "b"}},
	}
	for _, tt := range tests {
		if got := parseDepends([]byte(tt.modinfo)); !slices.Equal(got, tt.want) {
			t.Errorf("parseDepends(%q) = %q; want %q", tt.modinfo, got, tt.want)
		}
	}
}

// The archive reads back with GNU cpio: names, types, contents, device
// numbers.
func TestWriteCPIO(t *testing.T) {
	testutil.RequireBinary(t, "cpio", "cpio")
	entries := map[string]entry{
		"/init":         {mode: modeFile | 0o755, data: []byte("#!/bin/sh\necho hi\n")},
		"/bin/sh":       {mode: modeSymlink | 0o777, data: []byte("busybox")},
		"/dev/console":  {mode: modeChar | 0o600, rdev: [2]uint32{5, 1}},
		"/lib/x/y.ko":   {mode: modeFile | 0o644, data: []byte{1, 2, 3}},
		"/odd-size.txt": {mode: modeFile | 0o644, data: []byte("12345")},
	}
	addParents(entries)
	var buf bytes.Buffer
	if err := writeCPIO(&buf, entries); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "cpio", "-tv", "--quiet")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{"-rwxr-xr-x", "init", "lrwxrwxrwx", "bin/sh -> busybox", "crw-------", "5,", "dev/console", "drwxr-xr-x", "lib/x", "lib/x/y.ko", "odd-size.txt"} {
		if !strings.Contains(listing, want) {
			t.Errorf("cpio listing lacks %q:\n%s", want, listing)
		}
	}
	dir := t.TempDir()
	cmd = exec.CommandContext(t.Context(), "cpio", "-id", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "dev/console") {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for name, want := range map[string]string{"init": "#!/bin/sh\necho hi\n", "odd-size.txt": "12345", "lib/x/y.ko": "\x01\x02\x03"} {
		if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
}

// Modules resolves the Debian cloud kernel's virtio modules with their
// dependencies first.
func TestModulesOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("extracts the kernel package")
	}
	k := DebianKernel(t)
	mods, err := k.Modules(BaseModules...)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range mods {
		if _, dup := pos[m.Name]; dup {
			t.Errorf("module %s listed twice", m.Name)
		}
		pos[m.Name] = i
	}
	for _, pair := range [][2]string{{"virtio_ring", "virtio"}, {"virtio", "virtio_mmio"}, {"virtio", "virtio_blk"}, {"virtio", "virtio_console"}, {"virtio", "virtio_rng"}} {
		a, okA := pos[pair[0]]
		b, okB := pos[pair[1]]
		if !okA || !okB || a > b {
			t.Errorf("want %s before %s in %v", pair[0], pair[1], mods)
		}
	}
	if _, err := k.Modules("no_such_module"); err == nil || !strings.Contains(err.Error(), "no_such_module") {
		t.Errorf("unknown module: %v", err)
	}
	if _, err := os.Stat(k.BzImage); err != nil {
		t.Error(err)
	}
}

func TestBuildInitramfs(t *testing.T) {
	if testing.Short() {
		t.Skip("extracts the kernel package")
	}
	testutil.RequireBinary(t, "cpio", "cpio")
	k := DebianKernel(t)
	p := Build(t, k, Initramfs{Modules: []string{"virtio_blk"}, Script: "echo test-script\n", Files: map[string][]byte{"/etc/x": []byte("x")}})
	cmd := exec.CommandContext(context.Background(), "sh", "-c", "zcat "+p+" | cpio -t --quiet")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("list %s: %v\n%s", p, err, out)
	}
	for _, want := range []string{"init", "bin/busybox", "dev/console", "lib/modules/virtio_ring.ko", "lib/modules/virtio.ko", "lib/modules/virtio_blk.ko", "etc/x", "proc", "sys"} {
		if !slices.Contains(strings.Split(strings.TrimSpace(string(out)), "\n"), want) {
			t.Errorf("initramfs lacks %s:\n%s", want, out)
		}
	}
}
