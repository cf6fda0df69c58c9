package containershim

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execRequest is containerd's request to exec args as exec id in task
// id, with stdout to the FIFO at stdout ("" none).
func execRequest(t *testing.T, id, exec, stdout string, args ...string) *taskv3.ExecProcessRequest {
	t.Helper()
	spec, err := typeurl.MarshalAnyToProto(&specs.Process{Args: args, Env: []string{"PATH=/bin", "E=1"}, Cwd: "/tmp", User: specs.User{UID: 7, GID: 8}})
	if err != nil {
		t.Fatal(err)
	}
	return &taskv3.ExecProcessRequest{ID: id, ExecID: exec, Stdout: stdout, Spec: spec}
}

// TestExecPublishesInOrder execs a process in a running task that prints
// and exits 4: it runs with the request's argv, env, cwd and user, its
// output reaches the exec's FIFO, Wait and Delete of the exec answer 4,
// and the events go out exec-added → exec-started → exit (with the exec's
// id), the task untouched.
func TestExecPublishesInOrder(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block, h.d.execOut, h.d.execCode = true, "in-vm\n", 4
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a lost exit fails, not hangs
	defer cancel()
	mustCreateStart(t, h, "x1")
	stdout := filepath.Join(t.TempDir(), "stdout")
	if err := syscall.Mkfifo(stdout, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := fifo.OpenFifo(ctx, stdout, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Exec(ctx, execRequest(t, "x1", "e1", stdout, "sh", "-c", "echo in-vm; exit 4")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Exec(ctx, execRequest(t, "x1", "e1", "", "true")); !errdefsIs(err, cerrdefs.ErrAlreadyExists) {
		t.Errorf("a second exec e1: %v, want already exists", err)
	}
	if st, err := h.s.State(ctx, &taskv3.StateRequest{ID: "x1", ExecID: "e1"}); err != nil || st.Status.String() != "CREATED" || st.ID != "e1" {
		t.Errorf("state of the exec before start: %v, %v; want e1 created", st, err)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "x1", ExecID: "e1"}); err != nil {
		t.Fatal(err)
	}
	w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "x1", ExecID: "e1"})
	if err != nil || w.ExitStatus != 4 {
		t.Fatalf("wait of the exec: %v, %v; want 4", w, err)
	}
	if out, _ := io.ReadAll(reader); string(out) != "in-vm\n" {
		t.Errorf("exec stdout FIFO got %q, want in-vm", out)
	}
	cfg := h.d.execs[0]
	if !slices.Equal(cfg.Cmd, []string{"sh", "-c", "echo in-vm; exit 4"}) || !slices.Equal(cfg.Env, []string{"PATH=/bin", "E=1"}) || cfg.WorkingDir != "/tmp" || cfg.User != "7:8" || cfg.TTY != nil {
		t.Errorf("exec config %+v: want the request's argv, env, cwd /tmp, user 7:8, no terminal", cfg)
	}
	del, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "x1", ExecID: "e1"})
	if err != nil || del.ExitStatus != 4 {
		t.Fatalf("delete of the exec: %v, %v; want 4", del, err)
	}
	if _, err := h.s.State(ctx, &taskv3.StateRequest{ID: "x1", ExecID: "e1"}); !errdefsIs(err, cerrdefs.ErrNotFound) {
		t.Errorf("state of a deleted exec: %v, want not found", err)
	}
	if st, _ := h.s.State(ctx, &taskv3.StateRequest{ID: "x1"}); st.Status.String() != "RUNNING" {
		t.Errorf("task after its exec: %v, want still running", st.Status)
	}
	want := []string{"/tasks/create", "/tasks/start", "/tasks/exec-added", "/tasks/exec-started", "/tasks/exit"}
	if got := h.closeEvents(); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if e, ok := h.pub.events[4].(*eventstypes.TaskExit); !ok || e.ID != "e1" || e.ContainerID != "x1" || e.ExitStatus != 4 {
		t.Errorf("TaskExit %+v, want exec e1 of x1 with status 4", h.pub.events[4])
	}
}

// TestKillExec signals a running exec: it ends 128+15, a running exec's
// delete is refused before, a second kill is not found after, and an
// exec in a task not running is refused.
func TestKillExec(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block, h.d.execBlock = true, true
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a lost exit fails, not hangs
	defer cancel()
	mustCreateStart(t, h, "x2")
	if _, err := h.s.Exec(ctx, execRequest(t, "x2", "e1", "", "sleep", "100")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "x2", ExecID: "e1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Delete(ctx, &taskv3.DeleteRequest{ID: "x2", ExecID: "e1"}); !errdefsIs(err, cerrdefs.ErrFailedPrecondition) {
		t.Errorf("delete of a running exec: %v, want failed precondition", err)
	}
	if _, err := h.s.ResizePty(ctx, &taskv3.ResizePtyRequest{ID: "x2", ExecID: "e1", Width: 80, Height: 24}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "x2", ExecID: "e1", Signal: 15}); err != nil {
		t.Fatal(err)
	}
	if w, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "x2", ExecID: "e1"}); err != nil || w.ExitStatus != 143 {
		t.Fatalf("wait after SIGTERM: %v, %v; want 143", w, err)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "x2", ExecID: "e1", Signal: 9}); !errdefsIs(err, cerrdefs.ErrNotFound) {
		t.Errorf("kill of an exited exec: %v, want not found", err)
	}
	if _, err := h.s.Kill(ctx, &taskv3.KillRequest{ID: "x2", Signal: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Wait(ctx, &taskv3.WaitRequest{ID: "x2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Exec(ctx, execRequest(t, "x2", "e2", "", "true")); !errdefsIs(err, cerrdefs.ErrFailedPrecondition) {
		t.Errorf("exec in a stopped task: %v, want failed precondition", err)
	}
}

// TestCreateRetriedAfterCrash: a second shim's Create of the same
// container (containerd retrying after the first shim died) gets the
// VM the first recorded, not a conflict.
func TestCreateRetriedAfterCrash(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	ctx := t.Context()
	rootfs := overlay(t)
	req := &taskv3.CreateTaskRequest{ID: "x3", Bundle: h.bundle, Rootfs: rootfs}
	if _, err := h.s.Create(ctx, req); err != nil {
		t.Fatal(err)
	}
	again := NewService(ctx, Options{Daemon: h.d, Mounter: h.m, Publisher: h.pub, Namespace: "default"})
	defer again.Close()
	if _, err := again.Create(ctx, req); err != nil {
		t.Fatalf("create retried by a new shim: %v", err)
	}
	if len(h.d.vms) != 1 {
		t.Errorf("%d VMs after the retry, want the one", len(h.d.vms))
	}
}

// TestExecClosesBothFIFOs runs an exec with a stdout and a stderr FIFO
// that writes only to stdout: once it ends, both FIFOs reach end of
// file. CRI's ExecSync (crictl exec -s) answers only then.
func TestExecClosesBothFIFOs(t *testing.T) {
	h := newHarness(t, busyboxConfig)
	h.d.block, h.d.execOut = true, "in-vm\n"
	ctx := t.Context()
	mustCreateStart(t, h, "x1")
	readers := map[string]chan string{}
	req := execRequest(t, "x1", "e1", "", "echo", "in-vm")
	for _, name := range []string{"stdout", "stderr"} {
		p := filepath.Join(t.TempDir(), name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := fifo.OpenFifo(ctx, p, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 1)
		go func() { b, _ := io.ReadAll(r); got <- string(b) }()
		readers[name] = got
		if name == "stdout" {
			req.Stdout = p
		} else {
			req.Stderr = p
		}
	}
	if _, err := h.s.Exec(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Start(ctx, &taskv3.StartRequest{ID: "x1", ExecID: "e1"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"stdout": "in-vm\n", "stderr": ""} {
		select {
		case got := <-readers[name]:
			if got != want {
				t.Errorf("exec %s FIFO got %q, want %q", name, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("exec %s FIFO not closed 5s after the exec", name)
		}
	}
	h.closeEvents()
}
