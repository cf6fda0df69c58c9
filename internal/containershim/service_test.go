package containershim

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/api/types"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/fifo"

	"github.com/bangerdev/banger/pkg/api"
)

const busyboxConfig = `{"ociVersion":"1.2.0","process":{"args":["sh","-c","echo hello; exit 3"],
"env":["PATH=/bin","A=b"],"cwd":"/work","user":{"uid":1000,"gid":1000}},"root":{"path":"rootfs"}}`

var allEvents = []string{"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"}

// overlay is a snapshotter's mounts of one image: two layers and an
// empty upper directory.
func overlay(t *testing.T) []*types.Mount {
	upper := t.TempDir()
	return []*types.Mount{{Type: "overlay", Source: "overlay", Options: []string{"workdir=/w", "upperdir=" + upper, "lowerdir=/l/2:/l/1"}}}
}

// TestRunPublishesInOrder runs a task whose main process prints and exits
// 3: its output reaches the stdout FIFO, Wait and Delete answer 3, the
// events go out create → start → exit → delete with that status, and the
// VM is gone after.
func TestRunPublishesInOrder(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.out, h.d.code = "hello\n", 3
	stdout := filepath.Join(t.TempDir(), "stdout")
	if err := syscall.Mkfifo(stdout, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := fifo.OpenFifo(t.Context(), stdout, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "c1", Bundle: h.bundle, Rootfs: overlay(t), Stdout: stdout}); err != nil {
		t.Fatal(err)
	}
	vm := h.d.vms["default-c1"].vm
	if want := []string{"sh", "-c", "echo hello; exit 3"}; !slices.Equal(vm.Spec.Entrypoint, want) || vm.Spec.User != "1000:1000" || vm.Spec.WorkingDir != "/work" || vm.Spec.Labels[LabelID] != "c1" {
		t.Errorf("VM spec %+v: want the process's argv, user 1000:1000, cwd /work, the container's labels", vm.Spec)
	}
	if tarball := h.d.images[vm.Spec.Image]; len(tarball) == 0 {
		t.Errorf("image %s: no tar imported", vm.Spec.Image)
	}
	start, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c1"})
	if err != nil || start.Pid != 4242 {
		t.Fatalf("start: pid %v, %v; want the VM's 4242", start, err)
	}
	w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c1"})
	if err != nil || w.ExitStatus != 3 {
		t.Fatalf("wait: %v, %v; want exit 3", w, err)
	}
	out, _ := io.ReadAll(reader)
	if string(out) != "hello\n" {
		t.Errorf("stdout FIFO got %q, want hello", out)
	}
	del, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c1"})
	if err != nil || del.ExitStatus != 3 {
		t.Fatalf("delete: %v, %v; want exit 3", del, err)
	}
	if _, ok := h.d.vms["default-c1"]; ok {
		t.Error("the VM is still there after delete")
	}
	if got := h.closeEvents(); !slices.Equal(got, allEvents) {
		t.Errorf("events %v, want %v", got, allEvents)
	}
	if e, ok := h.pub.events[2].(*eventstypes.TaskExit); !ok || e.ExitStatus != 3 || e.Pid != 4242 {
		t.Errorf("TaskExit %+v, want status 3 of pid 4242", h.pub.events[2])
	}
}

// TestKillGivesSignalStatus signals a running task: it exits 128+15.
func TestKillGivesSignalStatus(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block = true
	ctx := t.Context()
	mustCreateStart(t, h, "c2")
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "c2", Signal: 15}); err != nil {
		t.Fatal(err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c2"}); err != nil || w.ExitStatus != 143 {
		t.Fatalf("wait after SIGTERM: %v, %v; want 143", w, err)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "c2", Signal: 9}); !errdefsIs(err, cerrdefs.ErrNotFound) {
		t.Errorf("kill of an exited task: %v, want not found (process already finished)", err)
	}
}

// TestDeleteRunningTask deletes a task that still runs: the VM is
// removed, TaskExit (137, its status lost with the VM) precedes
// TaskDelete.
func TestDeleteRunningTask(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block = true
	mustCreateStart(t, h, "c3")
	del, err := h.s.Delete(t.Context(), &taskv3.DeleteRequest{ID: "c3"})
	if err != nil || del.ExitStatus != 137 {
		t.Fatalf("delete of a running task: %v, %v; want 137", del, err)
	}
	if got := h.closeEvents(); !slices.Equal(got, allEvents) {
		t.Errorf("events %v, want %v", got, allEvents)
	}
}

// TestDeleteOfMissingVM deletes a task whose VM was removed behind the
// shim's back: it succeeds, as containerd needs of a cleanup.
func TestDeleteOfMissingVM(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	ctx := t.Context()
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "c4", Bundle: h.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	if err := h.d.RemoveVM(ctx, "default-c4"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c4"}); err != nil {
		t.Fatalf("delete with the VM gone: %v", err)
	}
	if _, err := h.s.State(ctx, &taskv3.StateRequest{ID: "c4"}); !errdefsIs(err, cerrdefs.ErrNotFound) {
		t.Errorf("state after delete: %v, want not found", err)
	}
}

// TestKillCreatedTask kills a task never started: it ends by the signal
// and Wait answers at once.
func TestKillCreatedTask(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "c5", Bundle: h.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "c5", Signal: 9}); err != nil {
		t.Fatal(err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "c5"}); err != nil || w.ExitStatus != 137 {
		t.Fatalf("wait: %v, %v; want 137", w, err)
	}
}

// TestFailedStartKeepsTaskCreated: a VM that fails to boot answers the
// daemon's error and leaves the task to Delete, with no TaskStart.
func TestFailedStartKeepsTaskCreated(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.startErr = errors.New("boot: no kernel")
	ctx := t.Context()
	if _, err := h.s.Create(ctx, &taskv3.CreateTaskRequest{ID: "c6", Bundle: h.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	h.d.mu.Lock()
	h.d.vms["default-c6"].vm.ConsoleTail = []string{"[    1.0] Kernel panic - not syncing: VFS"}
	h.d.mu.Unlock()
	// The error says why, with the console the VM's removal takes along.
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "c6"}); err == nil || !strings.Contains(err.Error(), "boot: no kernel") || !strings.Contains(err.Error(), "Kernel panic - not syncing") {
		t.Fatalf("start of a VM that fails to boot: %v; want the daemon's error and the console's last lines", err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "c6"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"/tasks/create", "/tasks/delete"}
	if got := h.closeEvents(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestCRIImageIsPulled: with CRI's image-name annotation the image is
// pulled by name and nothing is mounted or imported.
func TestCRIImageIsPulled(t *testing.T) {
	h := newHarness(t, `{"process":{"args":["true"]},"annotations":{"io.kubernetes.cri.image-name":"docker.io/library/busybox:1"}}`)
	if _, err := h.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: "c7", Bundle: h.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	if img := h.d.vms["default-c7"].vm.Spec.Image; img != "pulled/docker.io/library/busybox:1" || len(h.m.mounted) != 0 {
		t.Errorf("image %q, mounts %v; want the pulled image and no mount", img, h.m.mounted)
	}
}

// TestSharedImageIsReused: a second container of the same layers reuses
// the first one's import.
func TestSharedImageIsReused(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	mounts := overlay(t)
	for _, id := range []string{"a", "b"} {
		if _, err := h.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: id, Bundle: h.bundle, Rootfs: mounts}); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.m.mounted) != 1 || len(h.d.images) != 1 {
		t.Errorf("%d mounts, %d images; want one import for both", len(h.m.mounted), len(h.d.images))
	}
	if len(h.m.unmounted) != len(h.m.mounted) {
		t.Errorf("mounted %v, unmounted %v", h.m.mounted, h.m.unmounted)
	}
}

func mustCreateStart(t *testing.T, h *harness, id string) {
	t.Helper()
	if _, err := h.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: id, Bundle: h.bundle, Rootfs: overlay(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Start(t.Context(), &taskv3.StartRequest{ID: id}); err != nil {
		t.Fatal(err)
	}
}

func errdefsIs(err, kind error) bool { return err != nil && errors.Is(errgrpc.ToNative(err), kind) }

// TestPauseResume pauses and resumes a running task's VM: the state
// follows, each publishes its event, and a second pause is refused.
func TestPauseResume(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block = true
	ctx := t.Context()
	mustCreateStart(t, h, "p1")
	if _, err := h.s.Pause(ctx, &taskv3.PauseRequest{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if st, _ := h.s.State(ctx, &taskv3.StateRequest{ID: "p1"}); st.Status.String() != "PAUSED" || h.d.vms["default-p1"].vm.State != "paused" {
		t.Errorf("after pause: task %v, VM %s", st.Status, h.d.vms["default-p1"].vm.State)
	}
	if _, err := h.s.Pause(ctx, &taskv3.PauseRequest{ID: "p1"}); !errdefsIs(err, cerrdefs.ErrFailedPrecondition) {
		t.Errorf("second pause: %v, want failed precondition", err)
	}
	if _, err := h.s.Resume(ctx, &taskv3.ResumeRequest{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "p1"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"/tasks/create", "/tasks/start", "/tasks/paused", "/tasks/resumed", "/tasks/exit", "/tasks/delete"}
	if got := h.closeEvents(); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestStdinAndTerminal runs a task with a terminal and a stdin FIFO:
// the VM gets both, what is written to stdin reaches the main process
// and its end follows, and ResizePty sends the terminal's size.
func TestStdinAndTerminal(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block = true
	dir := t.TempDir()
	stdin, stdout := filepath.Join(dir, "stdin"), filepath.Join(dir, "stdout")
	for _, p := range []string{stdin, stdout} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := t.Context()
	w, err := fifo.OpenFifo(ctx, stdin, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fifo.OpenFifo(ctx, stdout, syscall.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
		t.Fatal(err)
	}
	req := &taskv3.CreateTaskRequest{ID: "i1", Bundle: h.bundle, Rootfs: overlay(t), Terminal: true, Stdin: stdin, Stdout: stdout}
	if _, err := h.s.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	v := h.d.vms["default-i1"]
	if !v.vm.Spec.Interactive || !v.vm.Spec.TTY {
		t.Errorf("VM spec %+v: want stdin (a FIFO was given) and a terminal", v.vm.Spec)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "i1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	want := []api.Frame{{Kind: api.FrameStdin, Data: []byte("hi\n")}, {Kind: api.FrameStdinEOF, Data: []byte{}}}
	for _, wf := range want {
		if f := <-v.received; f.Kind != wf.Kind || string(f.Data) != string(wf.Data) {
			t.Fatalf("daemon got frame %d %q, want %d %q", f.Kind, f.Data, wf.Kind, wf.Data)
		}
	}
	if _, err := h.s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "i1", Width: 100, Height: 40}); err != nil {
		t.Fatal(err)
	}
	if f := <-v.received; f.Kind != api.FrameResize || string(f.Data) != "40 100" {
		t.Errorf("resize frame %d %q, want rows 40 cols 100", f.Kind, f.Data)
	}
}

// TestConcurrentImportOfOneImage: another container of the same image
// imported it (and runs of it) while this one was importing: the import
// is refused, and this container uses that image.
func TestConcurrentImportOfOneImage(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	mounts := overlay(t)
	other := newHarness(t, busyboxConfig)
	other.d = h.d
	other.s.daemon = h.d
	h.d.beforeImport = func() {
		h.d.beforeImport = nil
		if _, err := other.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: "first", Bundle: other.bundle, Rootfs: mounts}); err != nil {
			t.Error(err)
		}
	}
	if _, err := h.s.Create(t.Context(), &taskv3.CreateTaskRequest{ID: "second", Bundle: h.bundle, Rootfs: mounts}); err != nil {
		t.Fatalf("create while another container imported the image: %v", err)
	}
	if a, b := h.d.vms["default-first"].vm.Spec.Image, h.d.vms["default-second"].vm.Spec.Image; a != b || len(h.d.images) != 1 {
		t.Errorf("images %q and %q, %d in the catalog; want one shared", a, b, len(h.d.images))
	}
}
