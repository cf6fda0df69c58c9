package qemu

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestQCOW2Backing reads the header qemu-img writes, as rootfs makes
// overlays.
func TestQCOW2Backing(t *testing.T) {
	img, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("qemu-img not installed (qemu-utils)")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base, with comma.ext4")
	if err := os.WriteFile(base, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ov := filepath.Join(dir, "disk.qcow2")
	if out, err := exec.Command(img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, ov).CombinedOutput(); err != nil { //nolint:noctx // a test's short command
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	f, err := os.Open(ov)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	path, format, err := qcow2Backing(f)
	if err != nil || path != base || format != "raw" {
		t.Errorf("backing %q format %q, %v; want %q raw", path, format, err, base)
	}
	plain := filepath.Join(dir, "plain.qcow2")
	if out, err := exec.Command(img, "create", "-q", "-f", "qcow2", plain, "1M").CombinedOutput(); err != nil { //nolint:noctx // a test's short command
		t.Fatalf("qemu-img: %v: %s", err, out)
	}
	g, _ := os.Open(plain)
	defer func() { _ = g.Close() }()
	if path, _, err := qcow2Backing(g); err != nil || path != "" {
		t.Errorf("overlay without backing: %q, %v", path, err)
	}
	if _, _, err := qcow2Backing(bytes.NewReader([]byte("raw disk bytes, not qcow2 at all, long enough for a header........................"))); err == nil {
		t.Error("a raw file passed as qcow2")
	}
}

func FuzzQCOW2Backing(f *testing.F) {
	hdr := make([]byte, 200)
	copy(hdr, qcow2Magic)
	hdr[7] = 3
	hdr[15], hdr[19] = 120, 5
	copy(hdr[120:], "/base")
	hdr[103] = 104
	f.Add(hdr)
	f.Add([]byte("QFI\xfb"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path, _, err := qcow2Backing(bytes.NewReader(b))
		if err == nil && len(path) > 1023 {
			t.Fatalf("backing name of %d bytes accepted", len(path))
		}
	})
}
