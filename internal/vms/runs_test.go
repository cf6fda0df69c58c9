package vms

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// How a run ended belongs to that run: a start forgets it, so a running VM
// shows none of the last run's exit.
func TestStartForgetsHowThePreviousRunEnded(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("job")
	m.powerOff(proto.Exit{Status: 137, Signal: "KILL", OOM: true})
	if got, err := f.s.Wait(context.Background(), "job"); err != nil || !got.OOMKilled || got.ExitSignal != "KILL" {
		t.Fatalf("first run's end: %+v, %v", got, err)
	}
	res, err := f.s.Start(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if v := res.VM; v.ExitCode != nil || v.ExitSignal != "" || v.OOMKilled || v.ExitReason != "" {
		t.Fatalf("running VM still shows the last exit: code %v signal %q oom %v reason %q", v.ExitCode, v.ExitSignal, v.OOMKilled, v.ExitReason)
	}
}

// The console log keeps every run's lines, but how a run ended is read
// from its own: a run that crashes after one that exited has no exit
// code, and a run that exits after one that panicked is no panic (on-failure
// would restart it as failed, again and again).
func TestARunsEndIsReadFromItsOwnConsoleLines(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("job")
	m.powerOff(proto.Exit{Status: 137, Signal: "KILL", OOM: true})
	if _, err := f.s.Wait(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Start(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	f.machine(vm.ID).exit(139)
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Failed || got.ErrorPhase != "vmm" || got.ExitCode != nil || got.ExitSignal != "" || got.OOMKilled {
		t.Fatalf("a crash after an OOM kill: state %s phase %q code %v signal %q oom %v", got.State, got.ErrorPhase, got.ExitCode, got.ExitSignal, got.OOMKilled)
	}

	if _, err := f.s.Start(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	m = f.machine(vm.ID)
	appendLine(t, m.console, "[    1.0] Kernel panic - not syncing: Attempted to kill init!")
	m.exit(0)
	if got, err := f.s.Wait(context.Background(), "job"); err != nil || got.State != Failed || got.ErrorPhase != "guest" {
		t.Fatalf("a panic: %+v, %v", got, err)
	}
	if _, err := f.s.Start(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	f.machine(vm.ID).powerOff(proto.Exit{Status: 0})
	got, err = f.s.Wait(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || got.ExitCode == nil || *got.ExitCode != 0 || got.Error != "" || len(got.ConsoleTail) != 0 {
		t.Fatalf("a clean exit after a panic: state %s code %v error %q tail %q", got.State, got.ExitCode, got.Error, got.ConsoleTail)
	}
	// The log itself keeps all four runs.
	if lines := strings.Count(readFile(t, f.s.consoleLog(vm.ID)), runMarker); lines != 4 {
		t.Errorf("console log has %d run markers, want 4", lines)
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = fh.Close() }()
	if _, err := fmt.Fprintln(fh, line); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A stop reads the VM under its lock: one that waited there while the VM
// exited and went into its policy's back-off cancels the restart and
// leaves it exited (it had taken the VM for running and failed, leaving
// it Restarting with nothing pending).
func TestStopOfAVMThatExitedWhileItWaited(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("web", withPolicy("always"))
	f.longBackoff(vm.ID)
	unlock := f.s.locks.Lock(vm.ID)
	type result struct {
		vm  VM
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := f.s.Stop(context.Background(), "web", time.Second)
		done <- result{got, err}
	}()
	time.Sleep(100 * time.Millisecond) // the stop looks the VM up, then waits for the lock
	m.powerOff(proto.Exit{Status: 0})
	f.inBackoff(vm.ID)
	unlock()
	r := <-done
	if r.err != nil {
		t.Fatalf("stop: %v", r.err)
	}
	if r.vm.State != Exited || !r.vm.Restarts.ManuallyStopped || f.s.restarts.get(vm.ID) != nil {
		t.Fatalf("after the stop: state %s restarts %+v pending %v", r.vm.State, r.vm.Restarts, f.s.restarts.get(vm.ID) != nil)
	}
}

// A pending restart starts only a VM still Restarting: a stop that came
// while the watcher recorded the exit leaves it exited, whatever the
// watcher schedules after.
func TestAPendingRestartOfAStoppedVMDoesNothing(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web", withPolicy("always"))
	if _, err := f.s.Stop(context.Background(), "web", time.Second); err != nil {
		t.Fatal(err)
	}
	f.s.scheduleRestart(vm.ID, 0)
	eventually(t, "the pending restart's end", func() bool { return f.s.restarts.get(vm.ID) == nil })
	if got := f.get("web"); got.State != Exited || f.starts() != 1 {
		t.Fatalf("state %s after %d starts: want exited, started once", got.State, f.starts())
	}
}
