package kernels

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
)

// A daemon killed during an install leaves a scratch directory or an
// upload in the scratch dir, an entry directory with no record (killed
// between the rename and the commit), or a half-written initramfs in a
// recorded entry; Reconcile removes exactly those.
func TestReconcileRemovesWhatAnInstallLeft(t *testing.T) {
	f := newFixture(t, config.Kernel{})
	kept := f.plant(t, "kept", true)
	left := map[string]string{
		"scratch":     filepath.Join(f.layout.Tmp(), "kernel-import-123", "stage", "vmlinux"),
		"upload":      filepath.Join(f.layout.Tmp(), "kernel-upload-456"),
		"unrecorded":  filepath.Join(f.layout.Kernel("half"), "vmlinux"),
		"partial-ird": filepath.Join(kept.Dir, ".initrd-789"),
	}
	for _, p := range left {
		kctest.WriteFile(t, p, []byte("left by a crash"))
	}
	notOurs := filepath.Join(f.layout.Tmp(), "image-abc", "rootfs.ext4")
	kctest.WriteFile(t, notOurs, []byte("the image catalog's"))

	if err := f.Reconcile(); err != nil {
		t.Fatal(err)
	}
	for what, p := range left {
		if what == "unrecorded" || what == "scratch" {
			p = filepath.Dir(p)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s %s survived reconcile (%v)", what, p, err)
		}
	}
	for _, p := range []string{kept.Vmlinux, notOurs} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("reconcile removed %s, which a record names or the kernels do not own: %v", p, err)
		}
	}
	if got := f.dirs(t); len(got) != 1 || got[0] != "kept" {
		t.Errorf("kernel dirs after reconcile: %v, want [kept]", got)
	}
	// A second reconcile finds nothing.
	if err := f.Reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kept.Vmlinux); err != nil {
		t.Errorf("second reconcile: %v", err)
	}
}
