package vms

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/restart"
)

// A VM's restart policy (`--restart`) acts where its exit is handled: the
// exit watcher (and reconcile, for an exit the daemon missed) asks package
// restart whether to start the VM again; if so the VM is recorded in the
// Restarting state and a pendingRestart starts it after the back-off,
// under the VM's lock, as a normal start of the same VM. The watcher has
// released every runtime stage before that, so nothing carries over from
// one run to the next but the disk and the lease. Stop, kill and rm cancel
// a pending restart; so does the service closing (the next daemon starts
// a VM it finds Restarting).

// startCause says who starts a VM: the user resets the restart count, the
// policy adds to it.
type startCause int

const (
	byUser startCause = iota
	byPolicy
)

// reasonVMMGone is the error of a VM whose VMM ended while no daemon ran
// and left no exit line.
const reasonVMMGone = "the VMM exited while the daemon was down"

// policyRestart decides, inside the update that records a run's end,
// whether v's policy starts it again; if so it marks v Restarting with
// its back-off, which it returns.
func policyRestart(v *VM, canceled bool) (time.Duration, bool) {
	if v.Spec.Restart.IsNone() || v.Started.IsZero() || !died(v) {
		return 0, false
	}
	e := restart.Exit{
		Failed:          v.State == Failed || v.ExitCode == nil || *v.ExitCode != 0,
		Canceled:        canceled,
		ManuallyStopped: v.Restarts.ManuallyStopped,
		Count:           v.Restarts.Count,
	}
	if !restart.ShouldRestart(v.Spec.Restart, e) {
		return 0, false
	}
	d := restart.NextDelay(v.Restarts.Delay, v.Stopped.Sub(v.Started))
	v.State, v.Restarts.Delay = Restarting, d
	return d, true
}

// died reports whether v ended as a run ends (its main process, a guest
// panic, a crashed VMM), as opposed to a release that failed or a start
// that never got there: only those the policy retries.
func died(v *VM) bool {
	switch {
	case v.State == Exited:
		return true
	case v.State != Failed:
		return false
	}
	return v.ErrorPhase == "guest" || v.ErrorPhase == "vmm" || v.ErrorPhase == "reconcile" && v.Error == reasonVMMGone
}

// pendingRestart is a Restarting VM's scheduled start.
type pendingRestart struct {
	timer *time.Timer
	// done is closed once the restart started the VM (or failed to), or
	// was canceled.
	done chan struct{}
}

// end stops p's timer and tells its waiters (under restartSet's lock).
func (p *pendingRestart) end() {
	p.timer.Stop()
	close(p.done)
}

// restartSet is the pending restarts by VM id.
type restartSet struct {
	mu sync.Mutex
	m  map[string]*pendingRestart
}

func (r *restartSet) get(id string) *pendingRestart {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}

// finish drops p when it is still id's pending restart, and tells its
// waiters.
func (r *restartSet) finish(id string, p *pendingRestart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m[id] != p || p == nil {
		return
	}
	delete(r.m, id)
	p.end()
}

// cancel drops id's pending restart, if any.
func (r *restartSet) cancel(id string) { r.finish(id, r.get(id)) }

// cancelAll drops every pending restart (the service closes).
func (r *restartSet) cancelAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.m {
		p.end()
	}
	r.m = nil
}

// scheduleRestart starts the VM id after d, unless canceled first.
func (s *Service) scheduleRestart(id string, d time.Duration) {
	p := &pendingRestart{done: make(chan struct{})}
	s.restarts.mu.Lock()
	defer s.restarts.mu.Unlock()
	if s.restarts.m == nil {
		s.restarts.m = map[string]*pendingRestart{}
	}
	if old := s.restarts.m[id]; old != nil {
		old.end()
	}
	p.timer = time.AfterFunc(d, func() { s.restartNow(id, p) })
	s.restarts.m[id] = p
	s.Log.Info("vm restarting", "vm", id, "delay", d)
}

// restartNow is a pending restart's start: the VM's lock, then a normal
// start, unless a stop or rm canceled it meanwhile, or left the VM no
// longer Restarting before the restart was scheduled (a stop that came
// while the watcher recorded the exit).
func (s *Service) restartNow(id string, p *pendingRestart) {
	unlock := s.locks.Lock(id)
	defer unlock()
	if s.restarts.get(id) != p || s.ctx.Err() != nil {
		return
	}
	defer s.restarts.finish(id, p)
	if vm, err := s.Get(id); err != nil || vm.State != Restarting {
		return
	}
	if _, err := s.startLocked(s.ctx, id, byPolicy); err != nil {
		s.Log.Error("restart policy: start", "vm", id, "error", err)
	}
}

// settle waits for the handling of an exit under way (the watcher records
// it and, per the policy, schedules a restart) and returns the VM then;
// stop makes it the user's stop, so the policy does not restart it. The
// caller does not hold the VM's lock (the watcher may take it to remove a
// --rm VM).
func (s *Service) settle(vm VM, stop bool) (VM, error) {
	lv := s.live.any(vm.ID)
	if lv == nil || s.live.get(vm.ID) != nil {
		return vm, nil
	}
	if stop {
		lv.stopping.Store(true)
	}
	<-lv.settled
	return s.Get(vm.ID)
}

// cancelRestart leaves a Restarting VM exited (stop, rm -f), stopped by the
// user; the caller holds its lock.
func (s *Service) cancelRestart(vm VM) error {
	// Record first: a wait the cancel ends reads the exited state.
	defer s.restarts.cancel(vm.ID)
	if vm.State != Restarting {
		return nil
	}
	_, err := s.update(vm.ID, func(v *VM) {
		if v.State == Restarting {
			v.State = Exited
		}
		v.Restarts.ManuallyStopped = true
	})
	return err
}

// reconcileRestart applies the policy of a VM that does not run after
// reconcile: one that was Restarting, or whose policy starts it at the
// daemon's start (its exit happened while no daemon ran, or always),
// starts now.
func (s *Service) reconcileRestart(id string) {
	if s.live.get(id) != nil {
		return
	}
	vm, err := s.Get(id)
	if err != nil || vm.Spec.Restart.IsNone() {
		return
	}
	due := vm.State == Restarting
	if !due {
		vm, err = s.update(id, func(v *VM) { _, due = policyRestart(v, false) })
		if err != nil {
			s.Log.Error("reconcile: record the restart", "vm", id, "error", err)
			return
		}
	}
	if due {
		s.Log.Info("reconcile: restarting a VM per its restart policy", "vm", id, "name", vm.Name, "policy", vm.Spec.Restart.String())
		s.scheduleRestart(id, 0)
	}
}

// waitExit waits for a VM's current or next run to end: a running VM's
// exit, or the end of the run a pending restart starts (docker's wait
// returns at each exit, whether or not the policy restarts the VM).
func (s *Service) waitExit(ctx context.Context, id string) error {
	for {
		// A settled VM still listed is an exit already handled (and its
		// restart, if any, already pending).
		if lv := s.live.any(id); lv != nil && !isClosed(lv.settled) {
			select {
			case <-lv.settled:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		p := s.restarts.get(id)
		if p == nil {
			return nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// errRestarting says an operation needs a VM that is not waiting to
// restart.
var errRestarting = errors.New("it is restarting (its restart policy starts it again)")
