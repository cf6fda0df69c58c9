package vms

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/store"
)

// start creates and starts a VM and returns it with its fake machine.
func (f *fixture) start(name string, mod ...func(*Spec)) (VM, *fakeMachine) {
	f.t.Helper()
	vm := f.create(name, mod...)
	if _, err := f.s.Start(context.Background(), name); err != nil {
		f.t.Fatal(err)
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return vm, f.h.machines[vm.ID]
}

// When the guest's main process ends, the watcher releases the runtime
// resources and records the exit code; the disk and lease stay.
func TestGuestExitIsRecordedAndReleased(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("job")
	m.powerOff(3)
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || got.ExitCode == nil || *got.ExitCode != 3 || got.Stopped.IsZero() {
		t.Fatalf("after the main process exited: %+v", got)
	}
	if f.h.taps[vm.ID] || !f.h.leases[vm.ID] {
		t.Errorf("tap %v lease %v: want the tap gone and the lease kept", f.h.taps[vm.ID], f.h.leases[vm.ID])
	}
	if _, err := os.Stat(f.l.VMRuntime(vm.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir left: %v", err)
	}
	if got.Runtime.Tap != "" || got.Runtime.PID != 0 || got.Runtime.IP == "" {
		t.Errorf("summary after exit: %+v", got.Runtime)
	}
}

func TestVMMCrashIsAnError(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("job")
	m.exit(139)
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Failed || got.ErrorPhase != "vmm" {
		t.Fatalf("after a VMM crash: state %s phase %q", got.State, got.ErrorPhase)
	}
}

func TestStopAsksTheAgentFirst(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	got, err := f.s.Stop(context.Background(), "web", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || !f.h.did("agent.shutdown") || f.h.did("vmm.kill") || f.h.did("vmm.shutdown") {
		t.Fatalf("state %s, ops %v: want the agent to power the guest off", got.State, f.h.log())
	}
}

func TestStopKillsAGuestThatIgnoresShutdown(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("web")
	m.ignoreShutdown = true
	got, err := f.s.Stop(context.Background(), "web", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || !f.h.did("agent.shutdown") || !f.h.did("vmm.shutdown") || !f.h.did("vmm.kill") {
		t.Fatalf("state %s, ops %v: want agent, power button, then kill", got.State, f.h.log())
	}
	if len(f.h.running()) != 0 {
		t.Fatal("machine still runs")
	}
}

func TestKillAndIdempotentStop(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}
	if f.h.did("agent.shutdown") || !f.h.did("vmm.kill") {
		t.Fatalf("kill asked the agent: %v", f.h.log())
	}
	f.h.reset()
	if got, err := f.s.Stop(context.Background(), "web", 0); err != nil || got.State != Exited || len(f.h.log()) != 0 {
		t.Fatalf("second stop: %v %s, ops %v", err, got.State, f.h.log())
	}
}

func TestRemove(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	if err := f.s.Remove(context.Background(), "web", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("rm of a running VM: want ErrConflict, got %v", err)
	}
	if err := f.s.Remove(context.Background(), "web", true); err != nil {
		t.Fatal(err)
	}
	if len(f.h.running()) != 0 || f.h.taps[vm.ID] || f.h.leases[vm.ID] {
		t.Fatalf("rm -f left machines %v taps %v leases %v", f.h.running(), f.h.taps, f.h.leases)
	}
	if _, err := os.Stat(f.l.VM(vm.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("VM dir left: %v", err)
	}
	if _, err := f.s.Get(vm.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("record left: %v", err)
	}
	if err := f.s.Remove(context.Background(), "web", false); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("second rm: %v", err)
	}
}

// A failed release keeps the record, so rm can be retried.
func TestRemoveKeepsTheRecordWhenReleaseFails(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}
	f.h.failOn("disk.remove", errors.New("busy"))
	if err := f.s.Remove(context.Background(), "web", false); err == nil {
		t.Fatal("rm succeeded although the disk could not be removed")
	}
	if _, err := f.s.Get(vm.ID); err != nil {
		t.Fatalf("record gone after a failed rm: %v", err)
	}
	f.h.failOn("disk.remove", nil)
	if err := f.s.Remove(context.Background(), "web", false); err != nil {
		t.Fatalf("retried rm: %v", err)
	}
}

func TestAutoRemoveOnExit(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("once", func(s *Spec) { s.AutoRemove = true })
	m.powerOff(0)
	got, err := f.s.Wait(context.Background(), vm.ID)
	if err != nil || got.State != Exited {
		t.Fatalf("wait: %+v %v", got, err)
	}
	eventually(t, "the VM to be removed", func() bool {
		_, err := f.s.Get(vm.ID)
		return errors.Is(err, errdefs.ErrNotFound)
	})
	if f.h.leases[vm.ID] {
		t.Error("auto-remove left the lease")
	}
}

// Starts, stops and removes of one VM from many goroutines never
// interleave: every operation succeeds or fails cleanly, and afterwards
// the host holds exactly what the VM's final state says.
func TestConcurrentOperationsOnOneVM(t *testing.T) {
	f := newFixture(t)
	vm := f.create("web")
	run := func(n int, withRemove bool) (starts int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.Background()
				var err error
				switch {
				case withRemove && i == n/2:
					err = f.s.Remove(ctx, vm.ID, true)
				case i%2 == 0:
					if _, err = f.s.Start(ctx, vm.ID); err == nil {
						mu.Lock()
						starts++
						mu.Unlock()
					}
				default:
					_, err = f.s.Stop(ctx, vm.ID, 0)
				}
				if err != nil && !errors.Is(err, errdefs.ErrConflict) && !errors.Is(err, errdefs.ErrNotFound) {
					t.Errorf("op %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		return starts
	}
	check := func() {
		t.Helper()
		got, err := f.s.Get(vm.ID)
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
			eventually(t, "the exit to settle", func() bool { return len(f.h.running()) == 0 })
			if len(f.h.taps) != 0 || len(f.h.leases) != 0 {
				t.Fatalf("VM removed but the host holds taps %v leases %v", f.h.taps, f.h.leases)
			}
		case err != nil:
			t.Fatal(err)
		case got.State == Running:
			if len(f.h.running()) != 1 || !f.h.taps[vm.ID] {
				t.Fatalf("running VM without its machine or tap: %v %v", f.h.running(), f.h.taps)
			}
		default:
			eventually(t, "the exit to settle", func() bool { return len(f.h.running()) == 0 })
			if f.h.taps[vm.ID] {
				t.Fatalf("stopped VM (%s) keeps its tap", got.State)
			}
		}
		if vms, _ := store.ListAll[VM](f.st, store.VMs); len(vms) > 1 {
			t.Fatalf("%d records for one VM", len(vms))
		}
	}
	if n := run(16, false); n == 0 {
		t.Fatal("no start succeeded")
	}
	check()
	run(16, true)
	check()
}

func TestTeardownNetworkRefusedWhileVMsRun(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	called := false
	err := f.s.TeardownNetwork(context.Background(), func(context.Context) error { called = true; return nil })
	if !errors.Is(err, errdefs.ErrConflict) || called {
		t.Fatalf("teardown while a VM runs: %v, called %v", err, called)
	}
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}
	if err := f.s.TeardownNetwork(context.Background(), func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("teardown with no VM running: %v, called %v", err, called)
	}
	// The next start sets the network up again.
	f.h.reset()
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if !f.h.did("net.setup") {
		t.Error("start after teardown did not set the network up")
	}
}
