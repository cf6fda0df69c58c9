package containershim

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
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
