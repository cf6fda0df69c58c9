package containershim

import (
	"context"
	"errors"
	"reflect"
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
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
)

// sandboxConfig is the spec CRI gives a pod's sandbox (pause) task.
const sandboxConfig = `{"ociVersion":"1.2.0","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs"},
"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"pod1",
"io.kubernetes.cri.sandbox-name":"web","io.kubernetes.cri.sandbox-namespace":"default",
"io.kubernetes.cri.sandbox-memory":"268435456",
"io.kubernetes.cri.podsandbox.image-name":"127.0.0.1:5000/pause:1"}}`

// startPod creates and starts sandbox task pod1 of config in h's shim:
// its VM's main process (the pause) runs until a signal.
func startPod(t *testing.T, h *harness, config string) *taskv3.StartResponse {
	t.Helper()
	h.d.block = true
	if err := createIn(t.Context(), h, "pod1", config, t); err != nil {
		t.Fatal(err)
	}
	st, err := h.s.Start(t.Context(), &taskv3.StartRequest{ID: "pod1"})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestPodIsOneVM runs a pod as CRI does: the sandbox task is one VM
// (the pause image pulled by name, the pod share mounted, the pod's
// labels and memory limit), its pid the VM's; each container of the pod is a root added
// to that VM (its image pulled by name, no VM of its own) whose process
// runs there over a session with the spec's argv, env, cwd and user in
// that root; a container's exit is its task's, its exec runs in its
// root, its Kill signals its process, its Delete removes its root; the
// sandbox's Delete removes the VM. Events go out in order.
func TestPodIsOneVM(t *testing.T) {
	h := newHarness(t, sandboxConfig)
	ctx := t.Context()
	start := startPod(t, h, sandboxConfig)
	if start.Pid != 4242 {
		t.Errorf("sandbox pid %d, want the pod VM's 4242", start.Pid)
	}
	pod := VMName("default", "pod1")
	spec := h.d.vmSpec(pod)
	if spec.Image != "pulled/127.0.0.1:5000/pause:1" || !slices.Equal(spec.Entrypoint, []string{"/pause"}) {
		t.Errorf("pod VM of image %q running %v; want the pulled pause image's /pause", spec.Image, spec.Entrypoint)
	}
	if want := []api.Mount{{Type: api.MountPod, Target: PodShareTarget}}; !reflect.DeepEqual(spec.Mounts, want) {
		t.Errorf("pod VM mounts %+v, want %+v", spec.Mounts, want)
	}
	if spec.MemoryMiB != 256 {
		t.Errorf("pod VM of %d MiB, want the pod's limit, 256", spec.MemoryMiB)
	}
	if l := spec.Labels; l[LabelID] != "pod1" || l[LabelPodName] != "web" || l[LabelPodNamespace] != "default" {
		t.Errorf("pod VM labels %v; want the sandbox id and the pod's name", l)
	}

	for _, id := range []string{"c1", "c2"} {
		if err := createIn(ctx, h, id, podContainerConfig("pod1"), t); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	if got := h.d.vmNames(); !slices.Equal(got, []string{pod}) {
		t.Errorf("VMs %v, want the pod's one", got)
	}
	img := "pulled/127.0.0.1:5000/bb:1"
	if got := h.d.containersOf(pod); !reflect.DeepEqual(got, map[string]string{"c1": img, "c2": img}) {
		t.Errorf("pod VM's containers %v, want c1 and c2 of %s", got, img)
	}

	// c1 exits 3 by itself; c2 runs until it is killed.
	h.d.execCode = 3
	if st, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c1"}); err != nil || st.Pid != start.Pid {
		t.Fatalf("start c1: %v, %v; want the pod's pid", st, err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c1"}); err != nil || w.ExitStatus != 3 {
		t.Fatalf("wait c1: %v, %v; want 3", w, err)
	}
	h.d.execBlock = true
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c2"}); err != nil {
		t.Fatal(err)
	}
	want := client.ExecConfig{Cmd: []string{"httpd", "-f"}, Env: []string{"A=b"}, WorkingDir: "/srv", User: "1000:1000", Container: "c2"}
	if got := h.d.execs[1]; !reflect.DeepEqual(stripStreams(got), want) || h.d.execs[0].Container != "c1" {
		t.Errorf("c2's process %+v, want %+v (c1's in %q)", stripStreams(got), want, h.d.execs[0].Container)
	}
	if st, err := h.s.State(ctx, &taskv3.StateRequest{ID: "c2"}); err != nil || st.Status != taskapi.Status_RUNNING {
		t.Fatalf("state of c2: %v, %v", st, err)
	}
	// An exec of c2 runs in c2's root.
	proc, _ := typeurl.MarshalAnyToProto(&specs.Process{Args: []string{"ls"}})
	if _, err := h.s.Exec(ctx, &taskv3.ExecProcessRequest{ID: "c2", ExecID: "e1", Spec: proc}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c2", ExecID: "e1"}); err != nil {
		t.Fatal(err)
	}
	if got := h.d.execs[2]; got.Container != "c2" || !slices.Equal(got.Cmd, []string{"ls"}) {
		t.Errorf("exec in c2: %+v, want ls in c2's root", got)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "c2", ExecID: "e1", Signal: uint32(syscall.SIGTERM)}); err != nil {
		t.Fatal(err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c2", ExecID: "e1"}); err != nil || w.ExitStatus != 143 {
		t.Fatalf("wait e1: %v, %v; want 143", w, err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c2", ExecID: "e1"}); err != nil {
		t.Fatal(err)
	}
	// Per-container stats are none; pausing one container is refused.
	if stat, err := h.s.Stats(ctx, &taskv3.StatsRequest{ID: "c2"}); err != nil {
		t.Errorf("stats of c2: %v", err)
	} else if v, err := typeurl.UnmarshalAny(stat.Stats); err != nil {
		t.Errorf("stats of c2: %v", err)
	} else if m, ok := v.(*stats.Metrics); !ok || m.Memory != nil || m.Pids != nil {
		t.Errorf("stats of c2: %v, %v; want empty metrics", v, err)
	}
	if _, err := h.s.Pause(ctx, &taskv3.PauseRequest{ID: "c2"}); !cerrdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
		t.Errorf("pause of c2: %v, want a failed precondition", err)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "c2", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c2"}); err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait c2: %v, %v; want 137", w, err)
	}
	for _, id := range []string{"c1", "c2"} {
		if d, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: id}); err != nil || d.ExitStatus != map[string]uint32{"c1": 3, "c2": 137}[id] {
			t.Fatalf("delete %s: %v, %v", id, d, err)
		}
	}
	if got := h.d.calls; !slices.Equal(got, []string{"add " + pod + " c1 " + img, "add " + pod + " c2 " + img, "remove " + pod + " c1", "remove " + pod + " c2"}) {
		t.Errorf("container calls %q", got)
	}
	if got := h.d.containersOf(pod); len(got) != 0 {
		t.Errorf("containers left in the pod VM: %v", got)
	}
	// The sandbox: CRI stops it, then deletes it; the VM goes.
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "pod1", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "pod1"}); err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait pod1: %v, %v; want 137", w, err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "pod1"}); err != nil {
		t.Fatal(err)
	}
	if got := h.d.vmNames(); len(got) != 0 {
		t.Errorf("VMs left: %v", got)
	}
	got := h.closeEvents()
	wantEvents := []string{
		"/tasks/create", "/tasks/start", // pod1
		"/tasks/create", "/tasks/create", // c1, c2
		"/tasks/start", "/tasks/exit", // c1
		"/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit", // c2, e1
		"/tasks/exit", "/tasks/delete", "/tasks/delete", // c2, c1, c2
		"/tasks/exit", "/tasks/delete", // pod1
	}
	if !slices.Equal(got, wantEvents) {
		t.Errorf("events\n%v\nwant\n%v", got, wantEvents)
	}
	if e, ok := h.pub.events[5].(*eventstypes.TaskExit); !ok || e.ContainerID != "c1" || e.ExitStatus != 3 || e.Pid != start.Pid {
		t.Errorf("c1's exit event %v", h.pub.events[5])
	}
}

// stripStreams is an exec config without its streams, to compare.
func stripStreams(c client.ExecConfig) client.ExecConfig {
	c.Stdin, c.Stdout, c.Stderr = nil, nil, nil
	return c
}

// TestPodContainerFailures: a container of a pod whose VM is not
// running, or whose sandbox this shim does not serve, is refused before
// anything is made; one the daemon cannot add is no task; one whose
// process cannot start stays created, and its Delete removes its root.
func TestPodContainerFailures(t *testing.T) {
	h := newHarness(t, sandboxConfig)
	ctx := t.Context()
	if err := createIn(ctx, h, "pod1", sandboxConfig, t); err != nil {
		t.Fatal(err)
	}
	if err := createIn(ctx, h, "c1", podContainerConfig("pod1"), t); !cerrdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
		t.Errorf("container of a pod not started: %v, want a failed precondition", err)
	}
	if err := createIn(ctx, h, "c1", podContainerConfig("elsewhere"), t); !cerrdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
		t.Errorf("container of a pod the shim does not serve: %v, want a failed precondition", err)
	}
	if len(h.d.calls) != 0 {
		t.Errorf("refused containers reached the daemon: %q", h.d.calls)
	}
	h.d.block = true
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "pod1"}); err != nil {
		t.Fatal(err)
	}
	h.d.addErr = errors.New("loop device: no space")
	if err := createIn(ctx, h, "c1", podContainerConfig("pod1"), t); err == nil {
		t.Fatal("c1 created though the daemon could not add it")
	}
	if _, err := h.s.State(ctx, &taskv3.StateRequest{ID: "c1"}); !cerrdefs.IsNotFound(errgrpc.ToNative(err)) {
		t.Errorf("state of the failed c1: %v, want not found", err)
	}
	if err := createIn(ctx, h, "c1", podContainerConfig("pod1"), t); err != nil {
		t.Fatal(err)
	}
	// The root went (say, a daemon restart): the process cannot start.
	h.d.mu.Lock()
	delete(h.d.vms[VMName("default", "pod1")].containers, "c1")
	h.d.mu.Unlock()
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c1"}); err == nil {
		t.Fatal("c1 started without its root")
	}
	if st, err := h.s.State(ctx, &taskv3.StateRequest{ID: "c1"}); err != nil || st.Status != taskapi.Status_CREATED {
		t.Errorf("c1 after a failed start: %v, %v; want created", st, err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if last := h.d.calls[len(h.d.calls)-1]; last != "remove default-pod1 c1" {
		t.Errorf("last container call %q, want c1's removal", last)
	}
	h.closeEvents()
}

// runningPodContainer answers a shim serving pod1, running, and its
// container c1, whose process runs until a signal.
func runningPodContainer(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, sandboxConfig)
	startPod(t, h, sandboxConfig)
	if err := createIn(t.Context(), h, "c1", podContainerConfig("pod1"), t); err != nil {
		t.Fatal(err)
	}
	h.d.execBlock = true
	if _, err := h.s.Start(t.Context(), &taskv3.StartRequest{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestPodVMGoneEndsContainers: when the pod's VM goes (the sandbox
// deleted first, or the VM died), a running container's task ends with
// exitUnknown, and its Delete succeeds with nothing left to remove.
func TestPodVMGoneEndsContainers(t *testing.T) {
	h := runningPodContainer(t)
	ctx := t.Context()
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "pod1"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if w, err := h.s.Wait(wctx, &taskv3.WaitRequest{ID: "c1"}); err != nil || w.ExitStatus != uint32(exitUnknown) {
		t.Fatalf("wait c1 after its pod VM went: %v, %v; want %d", w, err, exitUnknown)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c1"}); err != nil {
		t.Errorf("delete c1 after its pod VM went: %v", err)
	}
	if got := h.d.vmNames(); len(got) != 0 {
		t.Errorf("VMs left: %v", got)
	}
	h.closeEvents()
}

// TestDeleteRunningPodContainer: deleting a pod container whose process
// still runs kills it first (137), then removes its root; TaskExit goes
// out before TaskDelete.
func TestDeleteRunningPodContainer(t *testing.T) {
	h := runningPodContainer(t)
	ctx := t.Context()
	d, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c1"})
	if err != nil || d.ExitStatus != 137 {
		t.Fatalf("delete of running c1: %v, %v; want 137", d, err)
	}
	if got := h.d.containersOf(VMName("default", "pod1")); len(got) != 0 {
		t.Errorf("containers left: %v", got)
	}
	got := h.closeEvents()
	if want := []string{"/tasks/create", "/tasks/start", "/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestPodContainerTerminal: ResizePty of a running pod container reaches
// its process in the pod's VM; once it has exited, a resize is refused
// (failed precondition) instead of reaching a process that is gone.
func TestPodContainerTerminal(t *testing.T) {
	h := runningPodContainer(t)
	ctx := t.Context()
	if _, err := h.s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "c1", Width: 100, Height: 40}); err != nil {
		t.Fatal(err)
	}
	p := h.d.procs[0]
	if want := [][2]int{{40, 100}}; !reflect.DeepEqual(p.resize, want) {
		t.Errorf("c1's process resized to %v, want %v", p.resize, want)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "c1", Signal: uint32(syscall.SIGKILL)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "c1", Width: 80, Height: 24}); !cerrdefs.IsFailedPrecondition(errgrpc.ToNative(err)) {
		t.Errorf("resize of exited c1: %v, want a failed precondition", err)
	}
	if len(p.resize) != 1 {
		t.Errorf("c1's process resized after its exit: %v", p.resize)
	}
}
