package vms

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func (a *fakeAgent) MakeContainer(ctx context.Context, id, lower string) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	return a.m.h.do("agent.container.make:" + id + "@" + lower)
}

func (a *fakeAgent) RemoveContainer(ctx context.Context, id string) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	return a.m.h.do("agent.container.remove:" + id)
}

// A container of a pod VM: recorded, its image mounted under the pod
// share, then its root made by the agent over the image's guest path;
// removed in the opposite order. The pod share's release takes the
// containers still there.
func TestPodVMContainersAddAndRemove(t *testing.T) {
	f, _, _ := volumesFixture(t)
	vm := f.create("pod", withMounts(podMount))
	if _, err := f.s.Start(context.Background(), "pod"); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(f.l.VMRuntime(vm.ID), "pod", "c1")
	f.h.onOp = func(op string) {
		if op == "pod.image.mount" {
			rec := readRecord(t, f, vm.ID)
			if c := rec.Volumes.Mounts[0].Containers; len(c) != 1 || c[0] != (handles.PodContainer{ID: "c1", Image: "/images/busybox.ext4", Target: target, State: handles.Creating}) {
				t.Errorf("at the mount the record says %+v", c)
			}
		}
	}
	f.h.reset()
	if _, err := f.s.AddContainer(context.Background(), "pod", "c1", "busybox"); err != nil {
		t.Fatal(err)
	}
	f.h.onOp = nil
	if want := []string{"pod.image.mount", "agent.container.make:c1@/run/pod/c1"}; !slices.Equal(withoutCatalog(f.h.log()), want) {
		t.Errorf("add: %v, want %v", f.h.log(), want)
	}
	if f.v.podImages[target] != "/images/busybox.ext4" {
		t.Errorf("mounted images %v", f.v.podImages)
	}
	if _, err := f.s.AddContainer(context.Background(), "pod", "c1", "busybox"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("a second c1 = %v, want a conflict", err)
	}
	if _, err := f.s.AddContainer(context.Background(), "pod", "../x", "busybox"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a path as id = %v, want ErrInvalid", err)
	}
	f.h.reset()
	if _, err := f.s.RemoveContainer(context.Background(), "pod", "c1"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"agent.container.remove:c1", "pod.image.unmount"}; !slices.Equal(f.h.log(), want) {
		t.Errorf("remove: %v, want %v", f.h.log(), want)
	}
	if rec := readRecord(t, f, vm.ID); len(rec.Volumes.Mounts[0].Containers) != 0 || len(f.v.podImages) != 0 {
		t.Errorf("after remove: record %+v, images %v", rec.Volumes.Mounts[0].Containers, f.v.podImages)
	}
	if _, err := f.s.RemoveContainer(context.Background(), "pod", "c1"); err != nil {
		t.Errorf("removing an absent container: %v", err)
	}

	// One left at stop goes with the share.
	if _, err := f.s.AddContainer(context.Background(), "pod", "c2", "busybox"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Stop(context.Background(), "pod", 0); err != nil {
		t.Fatal(err)
	}
	if rec := readRecord(t, f, vm.ID); rec.Running() || len(f.v.pods) != 0 {
		t.Errorf("after stop: record %+v, pod shares %v", rec.Volumes, f.v.pods)
	}
}

// An agent that cannot make the root leaves no mount and no record
// entry; a VM without a pod share, or not running, is refused.
func TestPodVMContainerFailuresLeaveNothing(t *testing.T) {
	f, _, _ := volumesFixture(t)
	vm := f.create("pod", withMounts(podMount))
	if _, err := f.s.Start(context.Background(), "pod"); err != nil {
		t.Fatal(err)
	}
	f.h.failOn("agent.container.make:c1@/run/pod/c1", errors.New("old agent"))
	if _, err := f.s.AddContainer(context.Background(), "pod", "c1", "busybox"); err == nil {
		t.Fatal("add succeeded; want the agent's failure")
	}
	if rec := readRecord(t, f, vm.ID); len(rec.Volumes.Mounts[0].Containers) != 0 || len(f.v.podImages) != 0 {
		t.Errorf("after a failed add: record %+v, images %v", rec.Volumes.Mounts[0].Containers, f.v.podImages)
	}
	if _, err := f.s.AddContainer(context.Background(), "pod", "c1", "nosuch"); err == nil || len(f.v.podImages) != 0 {
		t.Errorf("an unknown image: %v, images %v", err, f.v.podImages)
	}

	f.create("plain", withMounts())
	if _, err := f.s.Start(context.Background(), "plain"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddContainer(context.Background(), "plain", "c1", "busybox"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("a VM without a pod share = %v, want a conflict", err)
	}
	if _, err := f.s.Stop(context.Background(), "pod", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AddContainer(context.Background(), "pod", "c1", "busybox"); err == nil {
		t.Error("add to a stopped VM succeeded")
	}
}

func withoutCatalog(ops []string) []string {
	return slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return op == "catalog.image" })
}
