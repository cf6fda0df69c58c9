package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// A running VM's disk is copied with its guest flushed first, its
// machine paused for the copy only and resumed; the copy holds the disk's
// bytes and the answer names the image the disk was made from.
func TestDiskCopyOfARunningVM(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	vm, m := f.start("src")
	f.h.reset()
	pausedAtCopy := false
	f.h.onOp = func(op string) {
		if op == "disk.rawcopy" {
			pausedAtCopy = m.paused()
		}
	}
	dst := filepath.Join(t.TempDir(), "copy.raw")
	info, err := f.s.DiskCopy(context.Background(), "src", dst)
	f.h.onOp = nil
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, op := range f.h.log() {
		if strings.HasPrefix(op, "agent.") || strings.HasPrefix(op, "vmm.") || strings.HasPrefix(op, "disk.") {
			ops = append(ops, op)
		}
	}
	if want := []string{"agent.sync", "vmm.pause", "disk.rawcopy", "vmm.resume"}; !slices.Equal(ops, want) {
		t.Errorf("ops %v, want %v", ops, want)
	}
	if !pausedAtCopy || m.paused() || !m.alive() {
		t.Errorf("paused during the copy %v; after it paused %v alive %v", pausedAtCopy, m.paused(), m.alive())
	}
	if b, err := os.ReadFile(dst); err != nil || string(b) != "disk" {
		t.Errorf("the copy holds %q, %v", b, err)
	}
	if info.VM.ID != vm.ID || info.Image.ID != "img0123" || info.Image.Rootfs != "/images/busybox.ext4" || !info.Running || info.Frozen <= 0 || info.Disk.Strategy != rootfs.Copy {
		t.Errorf("info %+v", info)
	}
}

// A stopped VM's disk is copied as it lies: nothing pauses or syncs.
func TestDiskCopyOfAStoppedVM(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	f.start("src")
	if _, err := f.s.Stop(context.Background(), "src", time.Second); err != nil {
		t.Fatal(err)
	}
	f.h.reset()
	dst := filepath.Join(t.TempDir(), "copy.raw")
	info, err := f.s.DiskCopy(context.Background(), "src", dst)
	if err != nil {
		t.Fatal(err)
	}
	if f.h.did("vmm.pause") || f.h.did("agent.sync") || !f.h.did("disk.rawcopy") {
		t.Errorf("ops %v", f.h.log())
	}
	if b, _ := os.ReadFile(dst); string(b) != "disk" || info.Running || info.Disk.Path != rootfs.DiskPath(f.l.VM(info.VM.ID), rootfs.Copy) {
		t.Errorf("copy %q, info %+v", b, info)
	}
}

// A failed copy of a running VM resumes it and leaves no file; the error
// names what failed.
func TestDiskCopyFailureResumes(t *testing.T) {
	for _, op := range []string{"agent.sync", "vmm.pause", "disk.rawcopy"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t, withCheckpoints)
			_, m := f.start("src")
			f.h.failOn(op, errors.New("injected "+op))
			dst := filepath.Join(t.TempDir(), "copy.raw")
			_, err := f.s.DiskCopy(context.Background(), "src", dst)
			if err == nil || !strings.Contains(err.Error(), "injected "+op) || !strings.Contains(err.Error(), "vm src") {
				t.Fatalf("error %v", err)
			}
			if m.paused() || !m.alive() {
				t.Errorf("paused %v alive %v", m.paused(), m.alive())
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the copy is left: %v", err)
			}
		})
	}
}

// What cannot be copied is refused with why and what to do.
func TestDiskCopyRefuses(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	f.create("fresh")
	f.start("sleepy")
	if _, err := f.s.Pause(context.Background(), "sleepy"); err != nil {
		t.Fatal(err)
	}
	np := newFixture(t, func(f *fixture) { f.b.caps.Pause = false })
	np.start("rigid")
	for _, tc := range []struct {
		f       *fixture
		ref     string
		is      error
		message string
	}{
		{f, "fresh", errdefs.ErrConflict, "never started"},
		{f, "sleepy", errdefs.ErrConflict, "unpause it"},
		{f, "nope", errdefs.ErrNotFound, "nope"},
		{np, "rigid", errdefs.ErrUnsupported, "cannot pause"},
	} {
		dst := filepath.Join(t.TempDir(), "copy")
		_, err := tc.f.s.DiskCopy(context.Background(), tc.ref, dst)
		if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.message) {
			t.Errorf("%s: %v, want %v saying %q", tc.ref, err, tc.is, tc.message)
		}
		if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a copy is left", tc.ref)
		}
	}
}
