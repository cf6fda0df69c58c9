package containershim

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/bangerdev/banger/pkg/api"
)

// TestStopAfterDeadShim is containerd's delete action for a shim that
// died: the VM goes with the exit it recorded, its private image too; a
// VM already gone is no error (137: its status is lost).
func TestStopAfterDeadShim(t *testing.T) {
	// The task's shim made its VM and private image (a writable snapshot
	// is the container's alone), then died.
	h := newHarness(t, busyboxConfig)
	rw := []*types.Mount{{Type: "bind", Source: t.TempDir(), Options: []string{"rbind", "rw"}}}
	if _, err := h.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: "dead", Bundle: h.bundle, Rootfs: rw}); err != nil {
		t.Fatal(err)
	}
	d := h.d
	m := &fakeMounter{}
	mgr := Manager{Dial: func() (Daemon, error) { return d, nil }, Mounter: m}
	ctx := namespaces.WithNamespace(t.Context(), "default")

	name := VMName("default", "dead")
	if len(d.images) != 1 {
		t.Fatalf("images %v; want the container's private one", d.images)
	}
	code := 3
	d.vms[name].vm = api.VM{Name: name, State: api.VMExited, ExitCode: &code, Runtime: api.VMRuntime{PID: 77}}
	st, err := mgr.Stop(ctx, "dead")
	if err != nil || st.ExitStatus != 3 || st.Pid != 77 {
		t.Fatalf("stop: %+v, %v; want exit 3 of pid 77", st, err)
	}
	if len(d.vms) != 0 || len(d.images) != 0 {
		t.Errorf("left %d VMs, %d images; want none", len(d.vms), len(d.images))
	}
	if len(m.unmounted) != 1 {
		t.Errorf("unmounted %v; want the bundle's rootfs", m.unmounted)
	}

	st, err = mgr.Stop(ctx, "dead")
	if err != nil || st.ExitStatus != exitUnknown {
		t.Errorf("stop with the VM gone: %+v, %v; want success with 137", st, err)
	}
	if _, err := mgr.Stop(context.Background(), "dead"); err == nil {
		t.Error("stop without a namespace succeeded")
	}
}

// TestRemoveDeadSocket removes the socket bootstrap.json names when
// nothing listens on it, and keeps a live one.
func TestRemoveDeadSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "shimsock") //nolint:usetesting // t.TempDir is too long a path for a socket
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	for _, live := range []bool{false, true} {
		sock := filepath.Join(dir, fmt.Sprintf("s%v", live))
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		if !live {
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			_ = l.Close()
		} else {
			defer func() { _ = l.Close() }()
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap.json"), fmt.Appendf(nil, `{"version":3,"address":"unix://%s","protocol":"ttrpc"}`, sock), 0o600); err != nil {
			t.Fatal(err)
		}
		removeDeadSocket(t.Context(), dir)
		if _, err := os.Stat(sock); (err == nil) != live {
			t.Errorf("live %v: socket exists %v after removeDeadSocket", live, err == nil)
		}
	}
}

// TestStopAfterDeadShimOfPodContainer: the delete action for a container
// of a pod (its bundle's spec names the pod) removes its root from the
// pod's VM and leaves the VM, which the sandbox's delete removes; with
// the pod VM gone, it succeeds with nothing to do.
func TestStopAfterDeadShimOfPodContainer(t *testing.T) {
	h := newHarness(t, sandboxConfig)
	startPod(t, h, sandboxConfig)
	ctr := bundle(t, podContainerConfig("pod1"))
	if _, err := h.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: "c1", Bundle: ctr}); err != nil {
		t.Fatal(err)
	}
	t.Chdir(ctr) // containerd runs the delete action in the bundle
	mgr := Manager{Dial: func() (Daemon, error) { return h.d, nil }, Mounter: h.m}
	ctx := namespaces.WithNamespace(t.Context(), "default")
	pod := VMName("default", "pod1")
	if st, err := mgr.Stop(ctx, "c1"); err != nil || st.ExitStatus != exitUnknown {
		t.Fatalf("stop c1: %+v, %v; want success with %d", st, err, exitUnknown)
	}
	if got := h.d.containersOf(pod); len(got) != 0 || !slices.Equal(h.d.vmNames(), []string{pod}) {
		t.Errorf("after stop: VMs %v, containers %v; want the pod VM without c1", h.d.vmNames(), got)
	}
	t.Chdir(h.bundle) // the sandbox's
	if _, err := mgr.Stop(ctx, "pod1"); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vmNames(); len(got) != 0 {
		t.Errorf("VMs left after the sandbox's stop: %v", got)
	}
	t.Chdir(ctr)
	if _, err := mgr.Stop(ctx, "c1"); err != nil {
		t.Errorf("stop c1 with its pod VM gone: %v", err)
	}
	h.closeEvents()
}
