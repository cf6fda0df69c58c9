package vms

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// start creates and starts a VM and returns it with its fake machine.
func (f *fixture) start(name string, mod ...func(*Spec)) (VM, *fakeMachine) {
	f.t.Helper()
	res, m := f.startVM(name, mod...)
	return res.VM, m
}

// When the guest's main process ends, the watcher releases the runtime
// resources and records the exit code; the disk and lease stay.
func TestGuestExitIsRecordedAndReleased(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("job")
	m.powerOff(proto.Exit{Status: 3})
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

func TestStopAsksTheAgent(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	got, err := f.s.Stop(context.Background(), "web", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || !f.h.did("agent.shutdown") || f.h.did("vmm.kill") || f.h.did("vmm.shutdown") {
		t.Fatalf("state %s, ops %v: want the agent to power the guest off", got.State, f.h.log())
	}
	if got.ExitCode == nil || *got.ExitCode != 143 || got.ExitSignal != "TERM" || got.ExitReason != "" {
		t.Fatalf("exit %v signal %q reason %q", got.ExitCode, got.ExitSignal, got.ExitReason)
	}
}

// The VMM is killed only when the agent does not end the VM within the
// grace and vm.agent_timeout; inspect says so.
func TestStopKillsTheVMMOnlyWhenTheAgentDoesNotFinish(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("web")
	m.ignoreShutdown = true
	start := time.Now()
	got, err := f.s.Stop(context.Background(), "web", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 1200*time.Millisecond {
		t.Errorf("the VMM was killed after %v, before grace + agent_timeout (1.2 s)", d)
	}
	if got.State != Exited || got.ExitReason != reasonUnresponsive || !f.h.did("agent.shutdown") || !f.h.did("vmm.kill") {
		t.Fatalf("state %s reason %q, ops %v: want the agent asked, then the VMM killed", got.State, got.ExitReason, f.h.log())
	}
	if len(f.h.running()) != 0 {
		t.Fatal("machine still runs")
	}
}

// stop -t 0: the main process gets SIGKILL right after its stop signal,
// but the guest still syncs and powers off: the VMM is not killed.
func TestStopZeroSkipsTheGraceNotTheSync(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	got, err := f.s.Stop(context.Background(), "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || !f.h.did("agent.shutdown:now") || f.h.did("vmm.kill") || got.ExitReason != "" {
		t.Fatalf("state %s reason %q ops %v", got.State, got.ExitReason, f.h.log())
	}
	f.h.reset()
	if got, err := f.s.Stop(context.Background(), "web", 0); err != nil || got.State != Exited || len(f.h.log()) != 0 {
		t.Fatalf("second stop: %v %s, ops %v", err, got.State, f.h.log())
	}
}

// An agent that does not answer at all: the power button, which a live
// agent handles like a stop; the VMM is not killed when the guest goes.
func TestStopWithoutAnAgentPressesThePowerButton(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	f.s.live.get(vm.ID).agent.close()
	f.h.failOn("agent.handshake", errors.New("no agent"))
	got, err := f.s.Stop(context.Background(), "web", 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || !f.h.did("vmm.shutdown") || f.h.did("vmm.kill") {
		t.Fatalf("state %s ops %v", got.State, f.h.log())
	}
}

func TestKill(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	if _, err := f.s.Kill(context.Background(), "web", "bogus"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("kill -s bogus: %v", err)
	}
	got, err := f.s.Kill(context.Background(), "web", "hup")
	if err != nil || got.State != Running || !f.h.did("agent.signal:HUP") {
		t.Fatalf("kill -s HUP: state %s, %v, ops %v", got.State, err, f.h.log())
	}
	got, err = f.s.Kill(context.Background(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || got.ExitCode == nil || *got.ExitCode != 137 || got.ExitSignal != "KILL" || f.h.did("vmm.kill") {
		t.Fatalf("after kill: state %s code %v signal %q, ops %v", got.State, got.ExitCode, got.ExitSignal, f.h.log())
	}
	if _, err := f.s.Kill(context.Background(), "web", ""); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("kill of an exited VM: %v", err)
	}
}

func TestKillWithoutAnAgentKillsTheVMM(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	f.s.live.get(vm.ID).agent.close()
	f.h.failOn("agent.handshake", errors.New("no agent"))
	got, err := f.s.Kill(context.Background(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || got.ExitReason != reasonUnresponsive || !f.h.did("vmm.kill") {
		t.Fatalf("state %s reason %q ops %v", got.State, got.ExitReason, f.h.log())
	}
}

func TestRestart(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	res, err := f.s.Restart(context.Background(), "web", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.VM.State != Running || count(f.h.log(), "vmm.start") != 2 || !f.h.did("agent.shutdown") || len(f.h.running()) != 1 {
		t.Fatalf("after restart: state %s, ops %v", res.VM.State, f.h.log())
	}
	if f.s.live.get(vm.ID) == nil {
		t.Fatal("restarted VM not live")
	}
}

// rm -f takes the disk too: it kills the VMM at once.
func TestRemoveForceKillsTheVMMAtOnce(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	if err := f.s.Remove(context.Background(), "web", true); err != nil {
		t.Fatal(err)
	}
	if !f.h.did("vmm.kill") || f.h.did("agent.shutdown") || f.h.did("agent.shutdown:now") {
		t.Fatalf("ops %v", f.h.log())
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
	m.powerOff(proto.Exit{})
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

// An agent older than the signal request (an image from an older banger):
// kill still ends the VM cleanly, by a stop with no grace.
func TestKillWithAnOldAgent(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	f.h.failOn("agent.signal:KILL", agentclient.ErrOldAgent)
	got, err := f.s.Kill(context.Background(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != Exited || !f.h.did("agent.shutdown:now") || f.h.did("vmm.kill") {
		t.Fatalf("state %s ops %v", got.State, f.h.log())
	}
}
