package vms

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// withPause gives the fake backend the pause capability.
func withPause(f *fixture) { f.b.caps.Pause = true }

// pause pauses a started VM and checks it is recorded so.
func (f *fixture) pause(name string) {
	f.t.Helper()
	vm, err := f.s.Pause(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	if vm.State != Paused {
		f.t.Fatalf("after pause: state %s, want paused", vm.State)
	}
}

// Pause freezes the machine and records it; exec (the agent front door)
// is refused with what to do; unpause resumes; each refuses the wrong
// state.
func TestPauseRefusesExecUntilUnpaused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, withPause)
	_, m := f.start("web")
	f.pause("web")
	if !m.paused() {
		t.Fatal("the machine was not paused")
	}
	if _, err := f.s.Agent(ctx, "web"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "banger unpause web") {
		t.Fatalf("exec on a paused VM: %v; want a conflict saying to unpause", err)
	}
	if _, err := f.s.Pause(ctx, "web"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "already paused") {
		t.Errorf("second pause: %v", err)
	}
	if list, _ := f.s.List(false); len(list) != 1 || list[0].State != Paused {
		t.Errorf("ps without -a: %+v; want the paused VM listed", list)
	}
	if _, err := f.s.Start(ctx, "web"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("start of a paused VM: %v", err)
	}
	vm, err := f.s.Unpause(ctx, "web")
	if err != nil || vm.State != Running || m.paused() {
		t.Fatalf("unpause: %v, state %s, machine paused %v", err, vm.State, m.paused())
	}
	if _, err := f.s.Agent(ctx, "web"); err != nil {
		t.Errorf("exec after unpause: %v", err)
	}
	if _, err := f.s.Unpause(ctx, "web"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "not paused") {
		t.Errorf("unpause of a running VM: %v", err)
	}
	f.create("idle")
	if _, err := f.s.Pause(ctx, "idle"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("pause of a created VM: %v", err)
	}
}

// A backend whose capabilities say it cannot pause is named in the error.
func TestPauseUnsupportedByTheBackend(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("web")
	_, err := f.s.Pause(context.Background(), "web")
	if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "fake backend cannot pause") {
		t.Fatalf("pause on a backend without the capability: %v", err)
	}
	if m.paused() || f.get("web").State != Running {
		t.Error("a refused pause changed the VM")
	}
}

// Stop of a paused VM unpauses it first, so the agent stops the main
// process and syncs: the exit is the main process's, not a killed VMM's.
func TestStopOfAPausedVMUnpausesFirst(t *testing.T) {
	f := newFixture(t, withPause)
	f.start("web")
	f.pause("web")
	start := time.Now()
	vm, err := f.s.Stop(context.Background(), "web", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if vm.State != Exited || vm.ExitCode == nil || *vm.ExitCode != 143 || vm.ExitReason != "" {
		t.Fatalf("stopped paused VM: state %s code %v reason %q; want exited 143 by the agent", vm.State, vm.ExitCode, vm.ExitReason)
	}
	ops := f.h.log()
	if r, s := slices.Index(ops, "vmm.resume"), slices.Index(ops, "agent.shutdown"); r < 0 || s < r || f.h.did("vmm.kill") {
		t.Errorf("ops %v: want vmm.resume before agent.shutdown and no kill", ops)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stop took %v: it waited for the frozen agent", d)
	}
}

// A paused VM that cannot be resumed is killed, and says why; it never
// hangs on its frozen agent.
func TestStopOfAPausedVMThatCannotResume(t *testing.T) {
	f := newFixture(t, withPause)
	f.start("web")
	f.pause("web")
	f.h.failOn("vmm.resume", errors.New("qmp gone"))
	vm, err := f.s.Stop(context.Background(), "web", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if vm.State != Exited || vm.ExitReason != reasonUnpause || !f.h.did("vmm.kill") {
		t.Fatalf("state %s reason %q ops %v", vm.State, vm.ExitReason, f.h.log())
	}
}

// kill of a paused VM unpauses it and delivers the signal.
func TestKillOfAPausedVM(t *testing.T) {
	f := newFixture(t, withPause)
	f.start("web")
	f.pause("web")
	vm, err := f.s.Kill(context.Background(), "web", "KILL")
	if err != nil {
		t.Fatal(err)
	}
	if vm.ExitCode == nil || *vm.ExitCode != 137 || !f.h.did("vmm.resume") {
		t.Fatalf("killed paused VM: %+v ops %v", vm, f.h.log())
	}
}

// rm -f of a paused VM kills its VMM as it is: the disk goes anyway.
func TestRemoveForceOfAPausedVM(t *testing.T) {
	f := newFixture(t, withPause)
	vm, _ := f.start("web")
	f.pause("web")
	if err := f.s.Remove(context.Background(), "web", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("rm without -f of a paused VM: %v", err)
	}
	if err := f.s.Remove(context.Background(), "web", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Get(vm.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("record kept: %v", err)
	}
	if !f.h.did("vmm.kill") || f.h.did("vmm.resume") || f.h.taps[vm.ID] || f.h.leases[vm.ID] {
		t.Errorf("ops %v tap %v lease %v", f.h.log(), f.h.taps[vm.ID], f.h.leases[vm.ID])
	}
}

// A restarted daemon adopts a paused VM as paused, asking the VMM, and
// corrects a record a crash left wrong either way.
func TestAdoptionKnowsAPausedVM(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, withPause)
	f.start("paused")
	_, rm := f.start("resumed")
	_, pm := f.start("frozen")
	f.pause("paused")
	// A daemon killed between the VMM's answer and the record: the
	// record says paused but the VMM runs, and the reverse.
	f.pause("resumed")
	if err := rm.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pm.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	f.s.Close()
	f.s = f.service()
	f.s.Reconcile(ctx)
	for name, want := range map[string]State{"paused": Paused, "resumed": Running, "frozen": Paused} {
		vm := f.get(name)
		if vm.State != want || f.s.live.get(vm.ID) == nil {
			t.Errorf("%s after adoption: state %s adopted %v; want %s", name, vm.State, f.s.live.get(vm.ID) != nil, want)
		}
	}
	if _, err := f.s.Unpause(ctx, "paused"); err != nil {
		t.Errorf("unpause of an adopted paused VM: %v", err)
	}
	if st, _ := f.h.machines[f.get("paused").ID].Status(ctx); st != vmm.StatusRunning {
		t.Errorf("machine after unpause: %s", st)
	}
}
