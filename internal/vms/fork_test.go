package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fork creates a VM from checkpoint ck and starts it.
func (f *fixture) fork(ck, name string) (StartResult, error) {
	f.t.Helper()
	if _, err := f.s.CreateFrom(context.Background(), name, ck, true); err != nil {
		f.t.Fatal(err)
	}
	return f.s.Start(context.Background(), name)
}

// A fork is restored from its checkpoint (never booted) on its own copy
// of the checkpoint's disk, its first connection pinning the source's
// host key (the guest it restored serves it), then re-identified with its
// own config — hostname, MAC, address, host key — and reconnected
// pinning its own key. The source runs on, unpaused; inspect says where
// the fork came from.
func TestForkGetsItsOwnIdentity(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	src, srcM := f.start("src")
	ck := f.checkpoint("src", "ck1")
	f.h.reset()
	res, err := f.fork("ck1", "kid")
	if err != nil {
		t.Fatal(err)
	}
	kid := res.VM
	if kid.Forked == nil || *kid.Forked != (Forked{VM: src.ID, VMName: "src", Checkpoint: "ck1", CheckpointID: ck.ID}) {
		t.Errorf("forked = %+v", kid.Forked)
	}
	if kid.State != Running || kid.Spec.From != ck.ID || !kid.Spec.Cold {
		t.Errorf("the fork: state %s from %q cold %v", kid.State, kid.Spec.From, kid.Spec.Cold)
	}
	ops := f.h.log()
	if slices.Contains(ops, "vmm.start") || !slices.Contains(ops, "vmm.restore") || !slices.Contains(ops, "disk.clone") {
		t.Fatalf("the fork's start did %v; want a disk clone and a restore, no boot", ops)
	}
	if i, j := slices.Index(ops, "vmm.restore"), slices.Index(ops, "agent.reidentify"); j < i {
		t.Errorf("re-identified before the restore: %v", ops)
	}
	f.b.h.mu.Lock()
	spec, rs := f.b.specs[len(f.b.specs)-1], f.b.restores[len(f.b.restores)-1]
	f.b.h.mu.Unlock()
	if rs.StatePath != ck.Path("state") || !rs.Resume {
		t.Errorf("restored from %+v; want the checkpoint's state, resumed", rs)
	}
	if d := spec.Drives[0].Path; filepath.Dir(d) != f.l.VM(kid.ID) {
		t.Errorf("the fork's root drive %s is not its own copy", d)
	}
	if b, err := os.ReadFile(spec.Drives[0].Path); err != nil || string(b) != "disk" {
		t.Errorf("the fork's disk: %q, %v; want the checkpoint's contents", b, err)
	}
	m := f.machine(kid.ID)
	g := m.guest
	g.mu.Lock()
	reid := slices.Clone(g.reidentified)
	key := g.key
	g.mu.Unlock()
	if len(reid) != 1 || reid[0].Hostname != "kid" || reid[0].Network == nil || reid[0].Network.MAC != kid.Runtime.MAC {
		t.Fatalf("re-identified with %+v; want the fork's hostname and MAC", reid)
	}
	// (The fake network leases one address to all; the real one's are
	// the e2e test's.)
	if len(spec.NICs) != 1 || spec.NICs[0].Tap != hostnet.TapName(kid.ID) {
		t.Errorf("the fork's NICs %+v; want its own tap", spec.NICs)
	}
	if !sameKey(key, f.ownKey(kid.ID)) || sameKey(key, f.ownKey(src.ID)) {
		t.Error("the fork's guest does not serve the fork's own host key")
	}
	if srcM.paused() || !srcM.alive() || f.get("src").State != Running {
		t.Error("the source is not running on after the fork")
	}
	// The checkpoint goes; the fork keeps running on its own disk.
	if _, err := f.s.RemoveCheckpoint("ck1"); err != nil {
		t.Fatal(err)
	}
	if !m.alive() {
		t.Error("removing the checkpoint ended the fork")
	}
}

// A fork whose restore or re-identify fails is killed and released:
// no VMM, tap or runtime directory of it remains, it is recorded failed
// at that stage, and the source runs on.
func TestFailedForkIsReleased(t *testing.T) {
	for _, tc := range []struct{ op, stage string }{
		{"vmm.restore", "vmm"},
		{"agent.reidentify", "reidentify"},
	} {
		t.Run(tc.op, func(t *testing.T) {
			f := newFixture(t, withCheckpoints)
			_, srcM := f.start("src")
			f.checkpoint("src", "ck1")
			f.h.failOn(tc.op, errors.New("injected"))
			_, err := f.fork("ck1", "kid")
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("fork with %s failing: %v", tc.op, err)
			}
			kid := f.get("kid")
			if kid.State != Failed || kid.ErrorPhase != tc.stage {
				t.Errorf("the fork: state %s phase %q", kid.State, kid.ErrorPhase)
			}
			if slices.Contains(f.h.running(), kid.ID) || f.h.taps[kid.ID] {
				t.Errorf("the failed fork still has a VMM (%v) or a tap (%v)", f.h.running(), f.h.taps[kid.ID])
			}
			if _, err := os.Stat(f.l.VMRuntime(kid.ID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("its runtime dir: %v", err)
			}
			if srcM.paused() || !srcM.alive() {
				t.Error("the source stopped running")
			}
			if err := f.s.Remove(context.Background(), "kid", false); err != nil {
				t.Fatal(err)
			}
			if f.h.leases[kid.ID] {
				t.Error("rm left the fork's lease")
			}
		})
	}
}

// run --from an unknown checkpoint is refused before anything is made.
func TestForkFromUnknownCheckpoint(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	if _, err := f.s.CreateFrom(context.Background(), "kid", "nope", true); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("CreateFrom an unknown checkpoint: %v", err)
	}
	if l, _ := f.s.List(true); len(l) != 0 {
		t.Errorf("vms: %+v", l)
	}
}

// A fork whose checkpoint was removed, or is damaged, before its first
// start fails at the fork stage, before anything is made: the error says
// the checkpoint is not found and what to do with a VM that cannot start
// without it.
func TestForkWithoutItsCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(*fixture, Checkpoint)
		want string
	}{
		{"removed", func(f *fixture, ck Checkpoint) {
			if _, err := f.s.RemoveCheckpoint(ck.Name); err != nil {
				f.t.Fatal(err)
			}
		}, "not found"},
		{"damaged", func(f *fixture, ck Checkpoint) {
			// Of the same size: only its sha256 tells.
			if err := os.WriteFile(ck.Path(checkpointDisk), []byte("DISK"), 0o600); err != nil {
				f.t.Fatal(err)
			}
		}, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, withCheckpoints)
			f.start("src")
			ck := f.checkpoint("src", "ck1")
			if _, err := f.s.CreateFrom(context.Background(), "kid", "ck1", true); err != nil {
				t.Fatal(err)
			}
			tc.lose(f, ck)
			f.h.reset()
			_, err := f.s.Start(context.Background(), "kid")
			if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), "`banger rm kid`") || strings.Contains(err.Error(), "%!") {
				t.Fatalf("start of a fork whose checkpoint is %s: %v", tc.name, err)
			}
			// The checkpoint's removal is reported once, why when it was
			// found damaged.
			if evs := f.events.Of(ck.ID); f.events.Actions(ck.ID) != "create remove" ||
				(tc.name == "damaged") != strings.HasPrefix(evs[1].Attributes[events.AttrReason], "damaged: ") ||
				evs[1].Attributes[events.AttrVM] == "" {
				t.Errorf("checkpoint events %+v, want its create and one remove", evs)
			}
			if kid := f.get("kid"); kid.State != Failed || kid.ErrorPhase != "fork" {
				t.Errorf("the fork: state %s phase %q; want failed at the fork stage", kid.State, kid.ErrorPhase)
			}
			if ops := f.h.log(); slices.Contains(ops, "disk.clone") || slices.Contains(ops, "vmm.restore") || slices.Contains(ops, "vmm.start") {
				t.Errorf("the failed fork did %v", ops)
			}
		})
	}
}

// A fork whose machine no longer matches its checkpoint's (here the
// daemon's client key changed) is refused before the restore, says what
// to remove, and leaves no VMM.
func TestForkOfAChangedMachine(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	f.start("src")
	f.checkpoint("src", "ck1")
	other, err := agentclient.NewClientKey()
	if err != nil {
		t.Fatal(err)
	}
	f.s.ClientKey = other.PublicKey()
	f.h.reset()
	_, err = f.fork("ck1", "kid")
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "`banger rm kid`") || !strings.Contains(err.Error(), "`banger checkpoint rm ck1`") {
		t.Fatalf("fork of a changed machine: %v", err)
	}
	if kid := f.get("kid"); kid.State != Failed || kid.ErrorPhase != "vmm" {
		t.Errorf("the fork: state %s phase %q", kid.State, kid.ErrorPhase)
	}
	if ops := f.h.log(); slices.Contains(ops, "vmm.restore") || slices.Contains(ops, "vmm.start") {
		t.Errorf("the refused fork did %v", ops)
	}
}
