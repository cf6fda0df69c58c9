package vms

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/restart"
)

// waitActions waits until the VM's events are want.
func (f *fixture) waitActions(id, want string) []events.Event {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for f.events.Actions(id) != want {
		if time.Now().After(deadline) {
			f.t.Fatalf("events %q, want %q", f.events.Actions(id), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return f.events.Of(id)
}

// A run --rm whose main process exits 3: create, start, exit with its
// code, remove — each once, in order, each saying which VM and image, with
// its labels.
func TestEventsOfARunToItsRemoval(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("job", func(s *Spec) {
		s.AutoRemove = true
		s.Labels = map[string]string{"tier": "batch"}
	})
	m.powerOff(proto.Exit{Status: 3})
	evs := f.waitActions(vm.ID, "create start exit remove")
	for _, e := range evs {
		if e.Type != events.TypeVM || e.Name != "job" || e.Attributes["tier"] != "batch" || e.Attributes[events.AttrImage] != "busybox" {
			t.Errorf("%s event %+v: want vm job, image busybox, label tier=batch", e.Action, e)
		}
	}
	if a := evs[2].Attributes; a[events.AttrExitCode] != "3" || a[events.AttrOOM] != "false" || a["state"] != "exited" || a[events.AttrExitedAt] == "" {
		t.Errorf("exit attributes %v, want exit_code 3, no OOM, exited, when", a)
	}
}

// A start that fails reports error, never start; the next good start
// reports start.
func TestFailedStartReportsError(t *testing.T) {
	f := newFixture(t)
	vm := f.create("web")
	f.h.failOn("net.attach", errors.New("boom"))
	if _, err := f.s.Start(context.Background(), "web"); err == nil {
		t.Fatal("start succeeded")
	}
	evs := f.waitActions(vm.ID, "create error")
	if a := evs[1].Attributes; !strings.Contains(a[events.AttrError], "boom") || a["phase"] != "network" {
		t.Errorf("error attributes %v, want the error and its stage", a)
	}
	f.h.failOn("net.attach", nil)
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	f.waitActions(vm.ID, "create error start")
}

// The user's operations report what they did after the record says so:
// a stop after the exit it caused, a kill before it; a stop of a VM that
// does not run reports nothing.
func TestEventsOfUserOperations(t *testing.T) {
	f := newFixture(t)
	f.b.caps.Pause = true
	vm, _ := f.start("web")
	ctx := context.Background()
	steps := []struct {
		do   func() error
		want string
	}{
		{func() error { _, err := f.s.Pause(ctx, "web"); return err }, "pause"},
		{func() error { _, err := f.s.Unpause(ctx, "web"); return err }, "unpause"},
		{func() error { _, err := f.s.Rename("web", "www"); return err }, "rename"},
		{func() error { _, err := f.s.Stop(ctx, "www", time.Second); return err }, "exit stop"},
		{func() error { _, err := f.s.Stop(ctx, "www", time.Second); return err }, ""},
		{func() error { _, err := f.s.Restart(ctx, "www", time.Second); return err }, "start restart"},
		{func() error { _, err := f.s.Restart(ctx, "www", time.Second); return err }, "exit stop start restart"},
		{func() error { _, err := f.s.Kill(ctx, "www", "KILL"); return err }, "kill exit"},
		{func() error { return f.s.Remove(ctx, "www", false) }, "remove"},
	}
	want := "create start"
	f.waitActions(vm.ID, want)
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatal(err)
		}
		if st.want != "" {
			want += " " + st.want
		}
		f.waitActions(vm.ID, want)
	}
	evs := f.events.Of(vm.ID)
	if r := evs[4]; r.Name != "www" || r.Attributes[events.AttrOldName] != "web" {
		t.Errorf("rename event %+v, want www, old name web", r)
	}
	if k := evs[len(evs)-3]; k.Attributes[events.AttrSignal] != "KILL" {
		t.Errorf("kill event %+v, want signal KILL", k)
	}
}

// An exit that happened while no daemon ran is reported by the next
// daemon's reconcile, where it learns of it, with the code the guest
// printed; an adopted VM reports nothing.
func TestReconcileReportsTheExitItFinds(t *testing.T) {
	f := newFixture(t)
	gone, m := f.start("gone")
	kept, _ := f.start("kept")
	f.s.Close()
	m.powerOff(proto.Exit{Status: 7})
	f.s = f.service()
	f.s.Reconcile(context.Background())
	evs := f.waitActions(gone.ID, "create start exit")
	if evs[2].Attributes[events.AttrExitCode] != "7" {
		t.Errorf("exit found by reconcile: %v, want exit_code 7", evs[2].Attributes)
	}
	f.waitActions(kept.ID, "create start")
}

// A VM its restart policy starts again reports each exit and each start,
// the start with how many restarts the policy made.
func TestRestartPolicyReportsEachRun(t *testing.T) {
	f := newFixture(t)
	vm, m := f.start("svc", func(s *Spec) { s.Restart.Mode = restart.OnFailure })
	m.powerOff(proto.Exit{Status: 1})
	evs := f.waitActions(vm.ID, "create start exit start")
	if evs[3].Attributes["restarts"] != "1" {
		t.Errorf("the policy's start: %v, want restarts 1", evs[3].Attributes)
	}
	if i := slices.IndexFunc(evs, func(e events.Event) bool { return e.Action == events.Error }); i >= 0 {
		t.Errorf("a policy restart reported an error: %+v", evs[i])
	}
}
