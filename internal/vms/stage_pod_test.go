package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/volumes"
)

var podMount = volumes.Mount{Type: volumes.TypePod, Target: "/run/pod"}

// A pod share is recorded, then made (a shared mount in the VM's runtime
// directory), then shared with the guest like a directory; a stop ends
// its virtiofsd first and then releases it; it blocks snapshots as any
// shared directory does.
func TestPodShareIsRecordedMadeSharedAndReleased(t *testing.T) {
	f, _, _ := volumesFixture(t)
	vm := f.create("pod", withMounts(podMount))
	dir := filepath.Join(f.l.VMRuntime(vm.ID), "pod")
	f.h.onOp = func(op string) {
		if op == "pod.make" {
			if rec := readRecord(t, f, vm.ID); rec.Volumes == nil || rec.Volumes.Mounts[0].Pod != handles.Creating || rec.Volumes.Mounts[0].PodDir != dir {
				t.Errorf("at pod.make the record does not name the share: %+v", rec.Volumes)
			}
		}
	}
	if _, err := f.s.Start(context.Background(), "pod"); err != nil {
		t.Fatal(err)
	}
	f.h.onOp = nil
	if !f.v.pods[dir] {
		t.Fatalf("pod share %s not made: %v", dir, f.v.pods)
	}
	if s := f.v.shares[filepath.Join(f.l.VMRuntime(vm.ID), "fs0.sock")]; s.Dir != dir || s.ReadOnly {
		t.Errorf("virtiofsd serves %+v, want the pod share, writable", s)
	}
	cfg, err := bootcfg.Read(filepath.Join(f.l.VM(vm.ID), "config.img"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []bootcfg.Mount{{Type: bootcfg.MountVirtioFS, Source: "vol0", Target: "/run/pod"}}; !slices.Equal(cfg.Mounts, want) {
		t.Errorf("guest mounts %+v, want %+v", cfg.Mounts, want)
	}
	if err := vm.SnapshotBlocker(); err == nil {
		t.Error("a pod VM's machine state can be saved: its virtio-fs device cannot")
	}
	if _, err := f.s.Stop(context.Background(), "pod", 0); err != nil {
		t.Fatal(err)
	}
	ops := f.h.log()
	if s, r := slices.Index(ops, "share.stop"), slices.Index(ops, "pod.release"); s < 0 || r < s {
		t.Errorf("the pod share must go after its virtiofsd: %v", ops)
	}
	if len(f.v.pods) != 0 || f.v.running(vm.ID) != 0 {
		t.Errorf("after stop: pods %v, %d virtiofsd", f.v.pods, f.v.running(vm.ID))
	}
	if rec := readRecord(t, f, vm.ID); rec.Running() {
		t.Errorf("record still names runtime resources: %+v", rec.Volumes)
	}
}

// A start failing after the pod share was made releases it; a broken
// volumes section releases the VM's pod share by its place.
func TestPodShareReleasedOnFailureAndByVMID(t *testing.T) {
	f, _, _ := volumesFixture(t)
	vm := f.create("pod", withMounts(podMount))
	f.b.recordThenFail = true
	if _, err := f.s.Start(context.Background(), "pod"); err == nil {
		t.Fatal("start succeeded; want the VMM's failure")
	}
	if len(f.v.pods) != 0 {
		t.Errorf("a failed start left the pod share: %v", f.v.pods)
	}

	f2, _, _ := volumesFixture(t)
	vm = f2.create("pod", withMounts(podMount))
	if err := os.MkdirAll(f2.l.VM(vm.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	bad := `{"version":2,"vm_id":"` + vm.ID + `","volumes":{"mounts":"garbage"}}`
	if err := os.WriteFile(filepath.Join(f2.l.VM(vm.ID), handles.FileName), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	f2.v.pods[filepath.Join(f2.l.VMRuntime(vm.ID), "pod")] = true // what the lost record named
	f2.h.failOn("pod.make", errors.New("stop here"))
	_, _ = f2.s.Start(context.Background(), "pod")
	ops := f2.h.log()
	if r, m := slices.Index(ops, "pod.release"), slices.Index(ops, "pod.make"); r < 0 || m < 0 || r > m {
		t.Errorf("the broken section did not release the pod share by the VM id first: %v", ops)
	}
	if len(f2.v.pods) != 0 {
		t.Errorf("pods left: %v", f2.v.pods)
	}
}
