package agentclient_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
)

func halted(t *testing.T, a *agenttest.Agent, within time.Duration) bool {
	t.Helper()
	select {
	case <-a.Halted:
		return true
	case <-time.After(within):
		return false
	}
}

func TestAttachMainStreamsOutputStdinAndExitCode(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{
		Main:       &bootcfg.Process{Argv: []string{"sh", "-c", "echo start; read line; echo got:$line; echo oops >&2; exit 5"}, Stdin: true},
		ExitWaitMS: 30000,
	})
	c := a.Dial(t)
	var out, errb bytes.Buffer
	code, err := c.AttachMain(ctxT(t), strings.NewReader("hello\n"), &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 || out.String() != "start\ngot:hello\n" || errb.String() != "oops\n" {
		t.Fatalf("attach: code %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	a.WaitConsole(t, "banger-agent: main exited status=5", 5*time.Second)
	// The host collected the status, so the VM ends now, not after ExitWait.
	if !halted(t, a, 5*time.Second) {
		t.Fatal("the agent did not power off after the host collected the exit status")
	}
}

func TestMainExitCodeWhenNobodyAttached(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{
		Main:       &bootcfg.Process{Argv: []string{"sh", "-c", "echo early; echo warn >&2; exit 3"}},
		ExitWaitMS: 30000,
	})
	a.WaitConsole(t, "banger-agent: main exited status=3", 10*time.Second)
	if line, ok := findExitLine(a.Console.String()); !ok || line != 3 {
		t.Fatalf("ParseConsoleExit on %q = %d, %v", a.Console.String(), line, ok)
	}
	c := a.Dial(t)
	info, err := c.Info(ctxT(t))
	if err != nil || info.Main != "exited" || info.ExitCode != 3 {
		t.Fatalf("info = %+v, %v", info, err)
	}
	// A host attaching late still gets all the output and the status.
	var out, errb bytes.Buffer
	code, err := c.AttachMain(ctxT(t), nil, &out, &errb)
	if err != nil || code != 3 || out.String() != "early\n" || errb.String() != "warn\n" {
		t.Fatalf("late attach: code %d, err %v, stdout %q, stderr %q", code, err, out.String(), errb.String())
	}
	if !halted(t, a, 5*time.Second) {
		t.Fatal("no power off after the late host collected the status")
	}
}

func findExitLine(console string) (int, bool) {
	for line := range strings.SplitSeq(console, "\n") {
		if n, ok := agentclient.ParseConsoleExit(line); ok {
			return n, true
		}
	}
	return 0, false
}

func TestMainUncollectedPowersOffAfterExitWait(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"true"}}, ExitWaitMS: 300})
	if halted(t, a, 100*time.Millisecond) {
		t.Fatal("powered off before ExitWait gave a host the chance to collect")
	}
	if !halted(t, a, 10*time.Second) {
		t.Fatal("never powered off after ExitWait")
	}
}

func TestMainNotFoundIsReportedLikeAnExit(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"/no/such/entrypoint"}}, ExitWaitMS: 30000})
	c := a.Dial(t)
	var errb bytes.Buffer
	code, err := c.AttachMain(ctxT(t), nil, io.Discard, &errb)
	if err != nil || code != 127 || !strings.Contains(errb.String(), "/no/such/entrypoint") {
		t.Fatalf("attach: code %d, err %v, stderr %q", code, err, errb.String())
	}
	a.WaitConsole(t, "main exited status=127", 5*time.Second)
}

func TestMainOutputIsBufferedLosslessUntilAttach(t *testing.T) {
	// 3 MiB, more than the 1 MiB buffer: the process must wait for the host.
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"head", "-c", "3145728", "/dev/zero"}}, ExitWaitMS: 30000})
	time.Sleep(200 * time.Millisecond)
	c := a.Dial(t)
	if info, _ := c.Info(ctxT(t)); info.Main != "running" {
		t.Fatalf("main %q before attach; want it blocked on the full buffer", info.Main)
	}
	var out bytes.Buffer
	code, err := c.AttachMain(ctxT(t), nil, &out, io.Discard)
	if err != nil || code != 0 || out.Len() != 3<<20 {
		t.Fatalf("attach: code %d, err %v, %d bytes", code, err, out.Len())
	}
}

func TestAttachMainTTY(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", "read x; stty size; tty >/dev/null && echo tty-ok"}, TTY: true, Stdin: true}})
	c := a.Dial(t)
	out := &syncBuf{}
	stdinR, stdinW := io.Pipe()
	done := make(chan error, 1)
	var code int
	go func() {
		var err error
		code, err = c.AttachMainTTY(ctxT(t), stdinR, out, agentclient.TTYConfig{Rows: 33, Cols: 77}, nil)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	_, _ = stdinW.Write([]byte("\n"))
	if err := <-done; err != nil || code != 0 {
		t.Fatalf("attach tty: %d %v", code, err)
	}
	if !strings.Contains(out.String(), "33 77") || !strings.Contains(out.String(), "tty-ok") {
		t.Fatalf("tty output %q", out.String())
	}
}

func TestAttachConflictAndDetach(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", "echo one; sleep 0.5; echo two"}}, ExitWaitMS: 30000})
	first := a.Dial(t)
	out1 := &syncBuf{}
	ctx1, cancel1 := context.WithCancel(ctxT(t))
	done1 := make(chan error, 1)
	go func() {
		_, err := first.AttachMain(ctx1, nil, out1, io.Discard)
		done1 <- err
	}()
	waitFor(t, out1, "one")
	second := a.Dial(t)
	if _, err := second.AttachMain(ctxT(t), nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("second attach while one is attached: %v", err)
	}
	cancel1() // the first host leaves
	if err := <-done1; !errors.Is(err, context.Canceled) {
		t.Fatalf("first attach after cancel: %v", err)
	}
	// The agent frees the slot once it sees the first host's channel
	// close, which may be a moment after the client gave up.
	var out2 bytes.Buffer
	code, err := second.AttachMain(ctxT(t), nil, &out2, io.Discard)
	for deadline := time.Now().Add(5 * time.Second); err != nil && strings.Contains(err.Error(), "refused") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		code, err = second.AttachMain(ctxT(t), nil, &out2, io.Discard)
	}
	if err != nil || code != 0 || out2.String() != "two\n" {
		t.Fatalf("re-attach after the first left: code %d err %v out %q", code, err, out2.String())
	}
}

func TestShutdownStopsMainGracefully(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", `trap 'echo bye; exit 9' TERM; echo ready; while :; do sleep 0.02; done`}}})
	c := a.Dial(t)
	out := &syncBuf{}
	done := make(chan int, 1)
	go func() {
		code, _ := c.AttachMain(ctxT(t), nil, out, io.Discard)
		done <- code
	}()
	waitFor(t, out, "ready")
	if err := c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 9 || !strings.Contains(out.String(), "bye") {
		t.Fatalf("attached host saw code %d, output %q", code, out.String())
	}
	if !halted(t, a, 5*time.Second) {
		t.Fatal("no power off after shutdown")
	}
	a.WaitConsole(t, "main exited status=9", time.Second)
}

func TestShutdownKillsAfterGrace(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.02; done`}}})
	c := a.Dial(t)
	out := &syncBuf{}
	go func() { _, _ = c.AttachMain(ctxT(t), nil, out, io.Discard) }()
	waitFor(t, out, "ready") // the trap is set
	start := time.Now()
	if err := c.ShutdownWith(ctxT(t), agentclient.ShutdownOptions{Grace: 200 * time.Millisecond, Reboot: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case reboot := <-a.Halted:
		if !reboot {
			t.Error("asked to reboot, halted with power off")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a main process ignoring SIGTERM kept the VM up")
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Error("SIGKILL came before the grace period")
	}
	a.WaitConsole(t, "main exited status=137", time.Second)
}

// The VM ends with its main process, with -d too, as a container does.
func TestDetachedVMEndsWithItsMain(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", "exit 3"}}, Detached: true, ExitWaitMS: 50})
	a.WaitConsole(t, "main exited status=3", 5*time.Second)
	if !halted(t, a, 5*time.Second) {
		t.Fatal("a detached VM stayed up after its main process ended")
	}
}

// A VM without a main process serves exec until it is shut down.
func TestNoMainServesUntilShutdown(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{ExitWaitMS: 50})
	if halted(t, a, 300*time.Millisecond) {
		t.Fatal("a VM without a main process powered off by itself")
	}
	c := a.Dial(t)
	var out bytes.Buffer
	if code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"echo", "still here"}, Stdout: &out}); err != nil || code != 0 || out.String() != "still here\n" {
		t.Fatalf("exec: %d %v %q", code, err, out.String())
	}
	if err := c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if !halted(t, a, 5*time.Second) {
		t.Fatal("shutdown did not halt")
	}
}

// kill -s: the signal reaches the main process, which may live on; a
// fatal one ends it and the VM, and the console says which signal.
func TestSignalReachesTheMainProcess(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", `trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.02; done`}}, ExitWaitMS: 50})
	c := a.Dial(t)
	out := &syncBuf{}
	go func() { _, _ = c.AttachMain(ctxT(t), nil, out, io.Discard) }()
	waitFor(t, out, "ready")
	if err := c.Signal(ctxT(t), "USR1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, "got-usr1")
	if halted(t, a, 200*time.Millisecond) {
		t.Fatal("a trapped signal ended the VM")
	}
	if err := c.Signal(ctxT(t), "bogus"); err == nil {
		t.Fatal("an unknown signal was accepted")
	}
	if err := c.Signal(ctxT(t), ""); err != nil { // KILL
		t.Fatal(err)
	}
	a.WaitConsole(t, "main exited status=137 signal=KILL", 5*time.Second)
	if !halted(t, a, 5*time.Second) {
		t.Fatal("the VM stayed up after its main process was killed")
	}
}

// A stop sends the image's STOPSIGNAL, and "now" SIGKILLs without grace.
func TestShutdownSendsTheStopSignal(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{
		Argv:       []string{"sh", "-c", `trap 'exit 5' QUIT; trap '' TERM; echo ready; while :; do sleep 0.02; done`},
		StopSignal: "SIGQUIT",
	}, StopGraceMS: 60000})
	c := a.Dial(t)
	out := &syncBuf{}
	go func() { _, _ = c.AttachMain(ctxT(t), nil, out, io.Discard) }()
	waitFor(t, out, "ready")
	if err := c.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	a.WaitConsole(t, "main exited status=5", 5*time.Second)

	b := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.02; done`}}, StopGraceMS: 60000})
	cb := b.Dial(t)
	outb := &syncBuf{}
	go func() { _, _ = cb.AttachMain(ctxT(t), nil, outb, io.Discard) }()
	waitFor(t, outb, "ready")
	start := time.Now()
	if err := cb.ShutdownWith(ctxT(t), agentclient.ShutdownOptions{Now: true}); err != nil {
		t.Fatal(err)
	}
	b.WaitConsole(t, "main exited status=137 signal=KILL", 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop now took %v: the 60 s grace was not skipped", d)
	}
}

func TestSyncAnswers(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	if err := a.Dial(t).Sync(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestDetachedMainOutputIsKept(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sh", "-c", "echo main-says-hi; exit 7"}}, Detached: true})
	a.WaitConsole(t, "main exited status=7", 5*time.Second)
	c := a.Dial(t)
	var out bytes.Buffer
	code, err := c.AttachMain(ctxT(t), nil, &out, io.Discard)
	if err != nil || code != 7 || out.String() != "main-says-hi\n" {
		t.Fatalf("detached main: code %d err %v output %q", code, err, out.String())
	}
}
