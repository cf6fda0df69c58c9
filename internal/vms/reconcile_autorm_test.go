package vms

import (
	"context"
	"errors"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A VM started with --rm whose exit was never handled — the daemon died
// after recording it, or the VMM ended while no daemon ran — is removed
// by the next daemon's reconcile, with its disk and lease; a --rm VM that
// still runs is adopted and kept, and VMs without --rm are left alone.
func TestReconcileRemovesAutoRemoveVMsThatDoNotRun(t *testing.T) {
	f := newFixture(t)
	autoRm := func(s *Spec) { s.AutoRemove = true }
	kept, _ := f.start("kept", autoRm)
	exited, m := f.start("exited", autoRm)
	plain, pm := f.start("plain")
	// Both VMMs die while no daemon runs: the service closes first, so
	// no watcher handles the exits.
	f.s.Close()
	m.exit(0)
	pm.exit(0)

	f.h.reset()
	f.s = f.service()
	f.s.Reconcile(context.Background())

	if _, err := f.s.Get(exited.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("the exited --rm VM is still recorded (%v)", err)
	}
	for _, op := range []string{"disk.remove", "net.release"} {
		if !f.h.did(op) {
			t.Errorf("reconcile did not %s: %v", op, f.h.log())
		}
	}
	if f.h.leases[exited.ID] || f.h.taps[exited.ID] {
		t.Errorf("the removed VM keeps lease %v, tap %v", f.h.leases[exited.ID], f.h.taps[exited.ID])
	}
	if got := f.get(kept.ID); got.State != Running || f.s.live.get(kept.ID) == nil {
		t.Errorf("the running --rm VM: state %s, adopted %v", got.State, f.s.live.get(kept.ID) != nil)
	}
	if got := f.get(plain.ID); got.State == Running || !f.h.leases[plain.ID] {
		t.Errorf("the VM without --rm: state %s, lease %v; want it stopped and kept", got.State, f.h.leases[plain.ID])
	}

	if ops := f.reconcileAgain(); len(ops) > 0 {
		t.Errorf("a second reconcile did %v", ops)
	}
}

// reconcileAgain restarts the daemon and returns what its reconcile did
// to the host, beyond re-adopting running VMs (attach, dial).
func (f *fixture) reconcileAgain() []string {
	f.h.reset()
	f.s.Close()
	f.s = f.service()
	f.s.Reconcile(context.Background())
	var did []string
	for _, op := range f.h.log() {
		if op != "vmm.attach" && op != "agent.dial" {
			did = append(did, op)
		}
	}
	return did
}
