package vms

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func withPolicy(p string) func(*Spec) {
	return func(s *Spec) {
		pol, err := restart.Parse(p)
		if err != nil {
			panic(err)
		}
		s.Restart = pol
	}
}

// machine is the VM's current fake VMM.
func (f *fixture) machine(id string) *fakeMachine {
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return f.h.machines[id]
}

// starts counts the VMM starts so far.
func (f *fixture) starts() int {
	n := 0
	for _, op := range f.h.log() {
		if op == "vmm.start" {
			n++
		}
	}
	return n
}

// nextRun waits for the policy to start the VM again after m and returns
// the new machine.
func (f *fixture) nextRun(id string, m *fakeMachine) *fakeMachine {
	f.t.Helper()
	eventually(f.t, "the policy's restart", func() bool {
		n := f.machine(id)
		return n != m && n.alive() && f.get(id).State == Running
	})
	return f.machine(id)
}

// inBackoff waits until the VM's exit is handled and its restart pending.
func (f *fixture) inBackoff(id string) {
	f.t.Helper()
	eventually(f.t, "the back-off", func() bool {
		return f.s.restarts.get(id) != nil && f.s.live.any(id) == nil && f.get(id).State == Restarting
	})
}

// longBackoff makes the VM's next restart wait a minute (the back-off
// doubles the recorded one, up to a minute).
func (f *fixture) longBackoff(id string) {
	f.t.Helper()
	if _, err := f.s.update(id, func(v *VM) { v.Restarts.Delay = restart.MaxDelay }); err != nil {
		f.t.Fatal(err)
	}
}

// on-failure:2 with exit 1 restarts twice, each a full release and a
// normal start of the same VM, then leaves it exited with its code.
func TestOnFailureRestartsUpToMax(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("job", withPolicy("on-failure:2"))
	first := f.get("job")
	for i := 1; i <= 2; i++ {
		m.powerOff(proto.Exit{Status: 1})
		m = f.nextRun(vm.ID, m)
		got := f.get("job")
		if got.Restarts.Count != i || got.Restarts.Last.IsZero() || got.ID != vm.ID || got.Runtime.IP != first.Runtime.IP || got.Runtime.DiskPath != first.Runtime.DiskPath {
			t.Fatalf("after restart %d: %+v", i, got)
		}
		if !f.h.taps[vm.ID] || !f.h.leases[vm.ID] {
			t.Fatalf("restart %d: tap %v lease %v", i, f.h.taps[vm.ID], f.h.leases[vm.ID])
		}
	}
	m.powerOff(proto.Exit{Status: 1})
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * restart.FirstDelay)
	got = f.get("job")
	if got.State != Exited || got.ExitCode == nil || *got.ExitCode != 1 || got.Restarts.Count != 2 || f.starts() != 3 {
		t.Fatalf("after the third failure: state %s code %v count %d, %d VMM starts; want exited 1, 2 restarts, 3 starts", got.State, got.ExitCode, got.Restarts.Count, f.starts())
	}
	// Each run was released before the next began: detach, then start.
	ops := strings.Join(f.h.log(), " ")
	if strings.Count(ops, "net.detach") != 3 || strings.Index(ops, "net.detach") > strings.LastIndex(ops, "vmm.start") {
		t.Errorf("want three releases, each before the next start: %s", ops)
	}
	if f.h.taps[vm.ID] || f.s.restarts.get(vm.ID) != nil {
		t.Errorf("tap %v, pending restart %v after the last exit", f.h.taps[vm.ID], f.s.restarts.get(vm.ID))
	}
}

func TestOnFailureDoesNotRestartSuccess(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("job", withPolicy("on-failure"))
	m.powerOff(proto.Exit{Status: 0})
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil || got.State != Exited || got.Restarts.Count != 0 {
		t.Fatalf("after exit 0: %s %v %v", got.State, got.Restarts, err)
	}
	time.Sleep(3 * restart.FirstDelay)
	if n := f.starts(); n != 1 {
		t.Fatalf("on-failure restarted a VM that exited 0 (%d starts)", n)
	}
}

// always restarts after exit 0; a stop is never undone, and a manual
// start resets the count.
func TestAlwaysRestartsAndStopIsFinal(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("web", withPolicy("always"))
	m.powerOff(proto.Exit{Status: 0})
	m = f.nextRun(vm.ID, m)
	m.powerOff(proto.Exit{Status: 0})
	f.nextRun(vm.ID, m)
	if got := f.get("web"); got.Restarts.Count != 2 || got.Restarts.Delay != 2*restart.FirstDelay {
		t.Fatalf("restarts %+v: want 2, the second after 200ms", got.Restarts)
	}
	got, err := f.s.Stop(context.Background(), "web", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * restart.FirstDelay)
	got = f.get("web")
	if got.State != Exited || !got.Restarts.ManuallyStopped || f.starts() != 3 || len(f.h.running()) != 0 {
		t.Fatalf("after stop: state %s restarts %+v, %d starts, running %v", got.State, got.Restarts, f.starts(), f.h.running())
	}
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if got := f.get("web"); got.Restarts != (Restarts{}) {
		t.Fatalf("a manual start kept the policy's count: %+v", got.Restarts)
	}
}

// A kill by SIGKILL is the user's stop; another signal that ends the main
// process leaves the VM to its policy (docker's kill): always restarts it,
// unless-stopped does not.
func TestKillAndThePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy, sig string
		restarts    bool
	}{
		{"always", "KILL", false},
		{"always", "TERM", true},
		{"unless-stopped", "TERM", false},
		{"on-failure", "TERM", false},
	} {
		t.Run(tc.policy+"/"+tc.sig, func(t *testing.T) {
			f := newFixture(t)
			vm, m := f.start("k", withPolicy(tc.policy))
			if _, err := f.s.Kill(context.Background(), "k", tc.sig); err != nil {
				t.Fatal(err)
			}
			if tc.sig != "KILL" {
				m.powerOff(proto.Exit{Status: 143, Signal: "TERM"})
			}
			if tc.restarts {
				f.nextRun(vm.ID, m)
				return
			}
			if _, err := f.s.Wait(context.Background(), "k"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * restart.FirstDelay)
			if got := f.get("k"); got.State != Exited || f.starts() != 1 || !got.Restarts.ManuallyStopped {
				t.Fatalf("state %s, %d starts, restarts %+v: want exited, not restarted, manually stopped", got.State, f.starts(), got.Restarts)
			}
		})
	}
}

// A VM in back-off is Restarting: listed by ps, not startable, and stop or
// rm -f cancels the pending start.
func TestBackoffStopAndRemove(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("web", withPolicy("always"))
	f.longBackoff(vm.ID)
	m.powerOff(proto.Exit{Status: 0})
	f.inBackoff(vm.ID)
	got := f.get("web")
	if got.ExitCode == nil || *got.ExitCode != 0 || got.Restarts.Delay != restart.MaxDelay || f.h.taps[vm.ID] {
		t.Fatalf("in back-off: %+v (tap %v)", got, f.h.taps[vm.ID])
	}
	if l, _ := f.s.List(false); len(l) != 1 {
		t.Errorf("ps lists %d VMs; want the restarting one", len(l))
	}
	if _, err := f.s.Start(context.Background(), "web"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("start of a restarting VM: %v", err)
	}
	if _, err := f.s.Kill(context.Background(), "web", ""); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "restarting") {
		t.Errorf("kill of a restarting VM: %v", err)
	}
	if err := f.s.Remove(context.Background(), "web", false); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("rm of a restarting VM without -f: %v", err)
	}
	got, err := f.s.Stop(context.Background(), "web", time.Second)
	if err != nil || got.State != Exited || !got.Restarts.ManuallyStopped || f.s.restarts.get(vm.ID) != nil {
		t.Fatalf("stop in back-off: %s %+v %v", got.State, got.Restarts, err)
	}

	// rm -f in back-off: the pending start never happens.
	vm2, m2 := f.start("job", withPolicy("always"))
	f.longBackoff(vm2.ID)
	m2.powerOff(proto.Exit{Status: 0})
	f.inBackoff(vm2.ID)
	if err := f.s.Remove(context.Background(), "job", true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Get("job"); !errors.Is(err, errdefs.ErrNotFound) || f.s.restarts.get(vm2.ID) != nil || f.h.leases[vm2.ID] {
		t.Fatalf("after rm -f in back-off: %v, pending %v, lease %v", err, f.s.restarts.get(vm2.ID), f.h.leases[vm2.ID])
	}
}

// wait returns at each exit, as docker's does: with the restarting state
// when the policy restarts the VM; a wait on a restarting VM returns when
// the run it is waiting to start ends, or when a stop cancels it.
func TestWaitReturnsAtEachExit(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("job", withPolicy("on-failure:1"))
	m.powerOff(proto.Exit{Status: 2})
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil || got.State != Restarting || *got.ExitCode != 2 {
		t.Fatalf("first wait: %s %v %v", got.State, got.ExitCode, err)
	}
	type res struct {
		vm  VM
		err error
	}
	done := make(chan res, 1)
	wait := func() { v, err := f.s.Wait(context.Background(), "job"); done <- res{v, err} }
	go wait()
	m = f.nextRun(vm.ID, m)
	select {
	case r := <-done:
		t.Fatalf("wait on a restarting VM returned before the next run ended: %s", r.vm.State)
	case <-time.After(100 * time.Millisecond):
	}
	m.powerOff(proto.Exit{Status: 5})
	if r := <-done; r.err != nil || r.vm.State != Exited || *r.vm.ExitCode != 5 {
		t.Fatalf("wait across the restart: %s %v", r.vm.State, r.err)
	}

	// A stop in back-off ends a wait too.
	if _, err := f.s.Start(context.Background(), "job"); err != nil {
		t.Fatal(err)
	}
	f.longBackoff(vm.ID)
	f.machine(vm.ID).powerOff(proto.Exit{Status: 1})
	f.inBackoff(vm.ID)
	go wait()
	time.Sleep(50 * time.Millisecond)
	if _, err := f.s.Stop(context.Background(), "job", time.Second); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.err != nil || r.vm.State != Exited || *r.vm.ExitCode != 1 {
		t.Fatalf("wait ended by a stop in back-off: %s %v", r.vm.State, r.err)
	}
}

// A VM whose main process ended while no daemon ran is restarted by the
// next daemon's reconcile per its policy; one that was in back-off is
// started; one that the user stopped is not, unless its policy is always.
func TestReconcileRestartsPerPolicy(t *testing.T) {
	f := newFixture(t)
	failed, fm := f.start("failed", withPolicy("on-failure:3"))
	backoff, bm := f.start("backoff", withPolicy("unless-stopped"))
	stopped, _ := f.start("stopped", withPolicy("unless-stopped"))
	always, _ := f.start("always", withPolicy("always"))
	succeeded, sm := f.start("succeeded", withPolicy("on-failure"))
	f.longBackoff(backoff.ID)
	bm.powerOff(proto.Exit{Status: 0})
	f.inBackoff(backoff.ID)
	for _, name := range []string{"stopped", "always"} {
		if _, err := f.s.Stop(context.Background(), name, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	f.s.Close()
	fm.powerOff(proto.Exit{Status: 3})
	sm.powerOff(proto.Exit{Status: 0})

	f.h.reset()
	f.s = f.service()
	f.s.Reconcile(context.Background())
	for _, vm := range []VM{failed, backoff, always} {
		eventually(t, vm.Name+" restarted", func() bool {
			got := f.get(vm.ID)
			return got.State == Running && got.Restarts.Count == 1
		})
	}
	time.Sleep(3 * restart.FirstDelay)
	for _, vm := range []VM{stopped, succeeded} {
		if got := f.get(vm.ID); got.State != Exited {
			t.Errorf("%s: state %s; want exited", vm.Name, got.State)
		}
	}
	if n := f.starts(); n != 3 {
		t.Errorf("%d VMM starts at reconcile; want 3", n)
	}
}

func TestRestartAndAutoRemoveConflict(t *testing.T) {
	f := newFixture(t)
	_, err := f.s.Create(context.Background(), "x", Spec{Image: "busybox", AutoRemove: true, Restart: restart.Policy{Mode: restart.Always}})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "--rm") {
		t.Fatalf("create with --rm and --restart: %v", err)
	}
}

// update --restart changes the policy from the next exit on.
func TestUpdateRestartPolicy(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("web")
	always := restart.Policy{Mode: restart.Always}
	got, err := f.s.Update(context.Background(), "web", Update{Restart: &always})
	if err != nil || got.Spec.Restart != always {
		t.Fatalf("update: %+v, %v", got.Spec.Restart, err)
	}
	m.powerOff(proto.Exit{Status: 0})
	f.nextRun(vm.ID, m)

	bad := restart.Policy{Mode: "sometimes"}
	if _, err := f.s.Update(context.Background(), "web", Update{Restart: &bad}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("update to %q: %v", bad.Mode, err)
	}
	f.create("tmp", func(s *Spec) { s.AutoRemove = true })
	if _, err := f.s.Update(context.Background(), "tmp", Update{Restart: &always}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("update of a --rm VM: %v", err)
	}
}
