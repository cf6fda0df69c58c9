package containershim

import (
	"context"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3/cgroup2/stats"
	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	taskapi "github.com/containerd/containerd/api/types/task"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/typeurl/v2"
)

// sandboxConfig is the spec CRI gives a pod's sandbox (pause) task.
const sandboxConfig = `{"ociVersion":"1.2.0","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs"},
"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"pod1",
"io.kubernetes.cri.podsandbox.image-name":"127.0.0.1:5000/pause:1"}}`

// noDaemon is a daemon every call of which fails the test: the embedded
// nil interface panics.
type noDaemon struct{ Daemon }

// TestSandboxTaskNeedsNoDaemon runs a pod's sandbox task the way CRI
// does (create, start, a pending wait, state, stats, kill, delete) with
// a daemon that must not be called: its pid is the shim's, Wait returns
// only after Kill with 128+signal, Exec and Pause are refused, and the
// events go out create → start → exit → delete with that status.
func TestSandboxTaskNeedsNoDaemon(t *testing.T) {
	h := newHarness(t, sandboxConfig)
	h.s.daemon = noDaemon{}
	ctx := t.Context()
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "pod1", Bundle: h.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	if len(h.m.mounted) != 0 {
		t.Errorf("the pause image's rootfs was mounted: %v", h.m.mounted)
	}
	start, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "pod1"})
	if want := uint32(os.Getpid()); err != nil || start.Pid != want { //nolint:gosec // a pid
		t.Fatalf("start: %v, %v; want the shim's pid %d", start, err, want)
	}
	waited := make(chan *taskv3.WaitResponse, 1)
	go func() {
		w, err := h.s.Wait(context.WithoutCancel(ctx), &taskv3.WaitRequest{ID: "pod1"})
		if err != nil {
			t.Error(err)
		}
		waited <- w
	}()
	st, err := h.s.State(ctx, &taskv3.StateRequest{ID: "pod1"})
	if err != nil || st.Status != taskapi.Status_RUNNING || st.Pid != start.Pid {
		t.Fatalf("state: %v, %v; want running as the shim's pid", st, err)
	}
	if pids, err := h.s.Pids(ctx, &taskv3.PidsRequest{ID: "pod1"}); err != nil || len(pids.Processes) != 1 || pids.Processes[0].Pid != start.Pid {
		t.Errorf("pids: %v, %v; want the shim's pid", pids, err)
	}
	stat, err := h.s.Stats(ctx, &taskv3.StatsRequest{ID: "pod1"})
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	if v, err := typeurl.UnmarshalAny(stat.Stats); err != nil {
		t.Errorf("stats: %v", err)
	} else if _, ok := v.(*stats.Metrics); !ok {
		t.Errorf("stats are %T, want cgroup v2 metrics", v)
	}
	for name, call := range map[string]func() error{
		"exec": func() error {
			_, err := h.s.Exec(ctx, &taskv3.ExecProcessRequest{ID: "pod1", ExecID: "e1"})
			return err
		},
		"pause": func() error { _, err := h.s.Pause(ctx, &taskv3.PauseRequest{ID: "pod1"}); return err },
	} {
		if err := call(); !cerrdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
			t.Errorf("%s of the sandbox: %v, want a failed precondition", name, err)
		}
	}
	select {
	case w := <-waited:
		t.Fatalf("wait returned %v before kill", w)
	case <-time.After(100 * time.Millisecond):
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "pod1", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-waited:
		if w == nil || w.ExitStatus != 137 {
			t.Fatalf("wait after SIGKILL: %v, want 137", w)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return after kill")
	}
	// CRI kills again (all processes) before it deletes: not found.
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "pod1", Signal: uint32(syscall.SIGKILL), All: true}); !cerrdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("second kill: %v, want not found", err)
	}
	del, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "pod1"})
	if err != nil || del.ExitStatus != 137 || del.Pid != start.Pid {
		t.Fatalf("delete: %v, %v; want 137 and the shim's pid", del, err)
	}
	if got := h.closeEvents(); !slices.Equal(got, allEvents) {
		t.Errorf("events %v, want %v", got, allEvents)
	}
	if exit, ok := h.pub.events[2].(*eventstypes.TaskExit); !ok || exit.ExitStatus != 137 || exit.ID != "pod1" {
		t.Errorf("exit event %v, want pod1's 137", h.pub.events[2])
	}
}

// TestPodShimServesContainers runs a container of a pod through the
// shim serving the pod's sandbox (containerd sends it there): the
// container is a VM of its own, the sandbox none, and the shim stays up
// until both tasks are deleted.
func TestPodShimServesContainers(t *testing.T) {
	h := newHarness(t, sandboxConfig)
	shutdowns := 0
	h.s.shutdown = func() { shutdowns++ }
	ctx := t.Context()
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "pod1", Bundle: h.bundle}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "pod1"}); err != nil {
		t.Fatal(err)
	}
	ctr := newHarness(t, busyboxConfig) // only for its bundle
	h.d.block = true
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "c1", Bundle: ctr.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	names := make([]string, 0, len(h.d.vms))
	for n := range h.d.vms {
		names = append(names, n)
	}
	h.d.mu.Unlock()
	if !slices.Equal(names, []string{"default-c1"}) {
		t.Errorf("VMs %v, want only the container's default-c1", names)
	}
	for _, id := range []string{"c1", "pod1"} {
		if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: id, Signal: uint32(syscall.SIGKILL)}); err != nil {
			t.Fatalf("kill %s: %v", id, err)
		}
		if _, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: id}); err != nil {
			t.Fatalf("wait %s: %v", id, err)
		}
		if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: id}); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
		if _, err := h.s.Shutdown(ctx, &taskv3.ShutdownRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"c1": 0, "pod1": 1}[id]; shutdowns != want {
			t.Errorf("after %s's delete: %d shutdowns, want %d", id, shutdowns, want)
		}
	}
	h.closeEvents()
}
