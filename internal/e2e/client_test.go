package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestGoClient drives a real VM through pkg/client alone, as a program
// outside this module would: the handshake, create (labels) and start,
// exec (stdout, stderr, exit codes, stdin, a terminal and its resize, a
// signal), copy, logs, wait for the main process's exit, rm; then a run
// with --rm's removal.
func TestGoClient(t *testing.T) {
	f := env(t)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	c, err := client.New(f.host)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Handshake(ctx); err != nil {
		t.Fatalf("handshake with the fixture's daemon: %v", err)
	}
	if v, err := c.ServerVersion(ctx); err != nil || v.APIVersion != api.APIVersion || v.MinAPIVersion == "" || v.Version == "" {
		t.Errorf("ServerVersion = %+v, %v", v, err)
	}

	// The main process writes to both streams, then waits for a file
	// an exec creates and exits 4.
	vm, err := c.CreateVM(ctx, api.CreateVMRequest{Name: "goclient", Spec: api.VMSpec{
		Image:  "busybox",
		Cmd:    []string{"sh", "-c", "echo started; echo warned >&2; while [ ! -e /tmp/stop ]; do sleep 0.2; done; exit 4"},
		Labels: map[string]string{"suite": "goclient"},
		Detach: true,
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.RemoveVM(context.Background(), vm.ID, api.RemoveVMQuery{Force: true}) })
	vms, err := c.ListVMs(ctx, api.ListVMsQuery{All: true, Labels: []string{"suite=goclient"}})
	if err != nil {
		t.Fatal(err)
	}
	var labelled []string
	for _, v := range vms {
		labelled = append(labelled, v.Name)
	}
	if len(labelled) != 1 || labelled[0] != "goclient" {
		t.Errorf("VMs labelled suite=goclient: %v", labelled)
	}
	started, err := c.StartVM(ctx, "goclient", api.Watch{})
	if err != nil {
		t.Fatalf("start: %v\n%s", err, f.logTail())
	}
	if started.VM.State != api.VMRunning || len(started.Timings) == 0 {
		t.Errorf("start answered %s with timings %v", started.VM.State, started.Timings)
	}

	// One session, many execs.
	s, err := c.OpenSession(ctx, "goclient", client.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var out, errb bytes.Buffer
	code, err := s.Exec(ctx, client.ExecConfig{Cmd: []string{"sh", "-c", "echo out; echo err >&2; exit 5"}, Stdout: &out, Stderr: &errb})
	if err != nil || code != 5 || out.String() != "out\n" || errb.String() != "err\n" {
		t.Errorf("exec: code %d, %v, stdout %q, stderr %q; want 5, out, err", code, err, out.String(), errb.String())
	}
	out.Reset()
	code, err = s.Exec(ctx, client.ExecConfig{Cmd: []string{"cat"}, Stdin: strings.NewReader("piped in"), Stdout: &out})
	if err != nil || code != 0 || out.String() != "piped in" {
		t.Errorf("exec with stdin: code %d, %v, %q", code, err, out.String())
	}
	if code, err := s.Exec(ctx, client.ExecConfig{Cmd: []string{"no-such-command"}}); err != nil || code != 127 {
		t.Errorf("exec of a missing command: code %d, %v; want 127", code, err)
	}

	// A terminal of the given size, resized while the command runs.
	tty := &lockedWriter{w: &bytes.Buffer{}}
	p, err := s.Start(ctx, client.ExecConfig{
		Cmd:    []string{"sh", "-c", "stty size; tty; sleep 2; stty size"},
		Stdout: tty,
		TTY:    &client.TTY{Term: "xterm", Rows: 33, Cols: 101},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, tty, "/dev/pts/")
	if err := p.Resize(40, 120); err != nil {
		t.Errorf("resize: %v", err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Errorf("tty exec: code %d, %v", code, err)
	}
	if got := tty.String(); !strings.Contains(got, "33 101") || !strings.Contains(got, "/dev/pts/") || !strings.Contains(got, "40 120") {
		t.Errorf("tty exec printed %q; want the size 33 101, a /dev/pts terminal, then 40 120", got)
	}

	// A signal reaches the command, which decides what to do with it.
	sig := &lockedWriter{w: &bytes.Buffer{}}
	p, err = s.Start(ctx, client.ExecConfig{Cmd: []string{"sh", "-c", "trap 'echo term; exit 9' TERM; echo ready; while true; do sleep 0.1; done"}, Stdout: sig})
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, sig, "ready")
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 9 {
		t.Errorf("signalled exec: code %d, %v, output %q; want 9", code, err, sig.String())
	}

	// Copy in and out.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "in"), []byte("payload"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyIn(ctx, filepath.Join(dir, "in"), "/root/in"); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyOut(ctx, "/root/in", filepath.Join(dir, "back")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "back")); err != nil || string(b) != "payload" {
		t.Errorf("copied in and back: %q, %v", b, err)
	}

	// The main process's kept output, each stream on its own.
	out.Reset()
	errb.Reset()
	if err := c.Logs(ctx, "goclient", api.VMLogsQuery{}, &out, &errb); err != nil || out.String() != "started\n" || errb.String() != "warned\n" {
		t.Errorf("logs: %v, stdout %q, stderr %q", err, out.String(), errb.String())
	}

	// The main process ends: wait answers its exit.
	if code, err := c.Exec(ctx, "goclient", client.ExecConfig{Cmd: []string{"touch", "/tmp/stop"}}); err != nil || code != 0 {
		t.Fatalf("touch /tmp/stop: %d, %v", code, err)
	}
	waited, err := c.WaitVM(ctx, "goclient")
	if err != nil || waited.ExitCode == nil || *waited.ExitCode != 4 || waited.State != api.VMExited {
		t.Errorf("wait: %+v, %v; want exited with 4", waited, err)
	}
	if err := c.RemoveVM(ctx, "goclient", api.RemoveVMQuery{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetVM(ctx, vm.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetVM after rm: %v, want not found", err)
	}
	if _, err := c.Exec(ctx, "goclient", client.ExecConfig{Cmd: []string{"true"}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("exec on a removed VM: %v, want not found", err)
	}
	f.assertNoTrace(t, vm.ID)

	// Run: create, attach, start, the exit code, and --rm's removal.
	out.Reset()
	errb.Reset()
	res, err := c.Run(ctx, client.RunConfig{
		Spec:   api.VMSpec{Image: "busybox", Cmd: []string{"sh", "-c", "echo run-out; echo run-err >&2; exit 6"}, AutoRemove: true},
		Stdout: &out, Stderr: &errb,
	})
	if err != nil || res.ExitCode != 6 || out.String() != "run-out\n" || errb.String() != "run-err\n" {
		t.Errorf("run: %+v, %v, stdout %q, stderr %q; want exit 6", res, err, out.String(), errb.String())
	}
	if _, err := c.GetVM(ctx, res.VM.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("the --rm run's VM after it: %v, want not found", err)
	}
	f.assertNoTrace(t, res.VM.ID)
}

// waitOutput waits until w has received want.
func waitOutput(t *testing.T, w *lockedWriter, want string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(w.String(), want); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the command did not print %q: %q", want, w.String())
		}
	}
}
