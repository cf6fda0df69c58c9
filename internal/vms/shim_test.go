package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// What a runtime shim or a scheduler asks of the service besides Put
// (put_test.go): label filters, a stop's signal, a delete of an absent
// VM, the exit as wait answers it, stdio paths.

// Label filters keep the VMs that have every one: KEY is any value,
// KEY=VALUE that value; a filter without a key is invalid.
func TestListByLabels(t *testing.T) {
	f := newFixture(t)
	label := func(l map[string]string) func(*Spec) { return func(s *Spec) { s.Labels = l } }
	f.create("a", label(map[string]string{"pod": "p1", "team": "web"}))
	f.create("b", label(map[string]string{"pod": "p2", "team": "web"}))
	f.create("c", label(map[string]string{"team": ""}))
	f.create("d")
	for _, tc := range []struct {
		labels []string
		want   []string
	}{
		{nil, []string{"a", "b", "c", "d"}},
		{[]string{"team"}, []string{"a", "b", "c"}},
		{[]string{"team=web"}, []string{"a", "b"}},
		{[]string{"team=web", "pod=p2"}, []string{"b"}},
		{[]string{"team="}, []string{"c"}},
		{[]string{"pod=p1", "pod=p2"}, nil},
		{[]string{"nope"}, nil},
	} {
		list, err := f.s.List(true, tc.labels...)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, vm := range list {
			got = append(got, vm.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("labels %q: %v, want %v", tc.labels, got, tc.want)
		}
	}
	if _, err := f.s.List(true, "=web"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a filter without a key: %v", err)
	}
}

// Removing an absent VM succeeds with MissingOK and is not found
// without; an ambiguous prefix stays an error either way.
func TestRemoveMissingOK(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.s.RemoveWith(ctx, "ghost", RemoveOptions{MissingOK: true}); err != nil {
		t.Errorf("rm --missing-ok of an absent VM: %v", err)
	}
	if err := f.s.RemoveWith(ctx, "ghost", RemoveOptions{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("rm of an absent VM: %v, want not found", err)
	}
	vm := f.create("web")
	if err := f.s.RemoveWith(ctx, "web", RemoveOptions{MissingOK: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Get(vm.ID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing-ok did not remove the VM that exists: %v", err)
	}
	if err := f.s.RemoveWith(ctx, "web", RemoveOptions{MissingOK: true}); err != nil {
		t.Errorf("a second rm --missing-ok: %v", err)
	}
}

// A stop's signal goes to the agent in its spelling (a number or a name
// with SIG), overriding the image's; the exit wait answers carries the
// signal, the code, OOM and when it ended. A bad signal is invalid and
// stops nothing.
func TestStopWithASignal(t *testing.T) {
	f := newFixture(t)
	f.start("web")
	if _, err := f.s.StopWith(context.Background(), "web", StopOptions{Timeout: time.Second, Signal: "SIGBOGUS"}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("stop -s SIGBOGUS: %v", err)
	}
	if f.get("web").State != Running {
		t.Fatal("an invalid stop signal stopped the VM")
	}
	before := time.Now()
	got, err := f.s.StopWith(context.Background(), "web", StopOptions{Timeout: time.Second, Signal: "2"})
	if err != nil {
		t.Fatal(err)
	}
	if !f.h.did("agent.shutdown.signal:INT") {
		t.Errorf("the agent was not asked for INT: %v", f.h.log())
	}
	if got.State != Exited || got.ExitCode == nil || *got.ExitCode != 130 || got.ExitSignal != "INT" || got.Stopped.Before(before) {
		t.Errorf("after stop -s 2: state %s code %v signal %q stopped %v", got.State, got.ExitCode, got.ExitSignal, got.Stopped)
	}
}

// Wait answers everything a shim's wait needs: exit code, signal, OOM
// kill, and when it exited.
func TestWaitAnswersTheWholeExit(t *testing.T) {
	f := newFixture(t)
	_, m := f.start("job")
	before := time.Now()
	go m.powerOff(proto.Exit{Status: 137, Signal: "KILL", OOM: true})
	got, err := f.s.Wait(context.Background(), "job")
	if err != nil {
		t.Fatal(err)
	}
	if got.ExitCode == nil || *got.ExitCode != 137 || got.ExitSignal != "KILL" || !got.OOMKilled || got.Stopped.Before(before) {
		t.Errorf("wait answered code %v signal %q oom %v stopped %v; want 137, KILL, true, now", got.ExitCode, got.ExitSignal, got.OOMKilled, got.Stopped)
	}
}

// Stdio paths are checked at create (the stream and path named), given
// to the output keeper at each start with stdin opened in the guest, and
// an output keeper that cannot open one fails the start, releasing it.
func TestStdioPaths(t *testing.T) {
	out := &fakeOutputs{}
	f := newFixture(t, func(f *fixture) { f.out = out })
	dir := t.TempDir()
	stdin := filepath.Join(dir, "in")
	if err := os.WriteFile(stdin, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []vmlogs.Stdio{{Stdout: "rel.log"}, {Stdout: filepath.Join(f.l.VM("x"), "disk")}, {Stdin: filepath.Join(dir, "none")}}
	for _, s := range bad {
		_, err := f.s.Create(context.Background(), "bad", Spec{Image: "busybox", Cmd: []string{"cat"}, Stdio: s})
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("create with stdio %+v: %v, want invalid", s, err)
		}
	}
	stdio := vmlogs.Stdio{Stdin: stdin, Stdout: filepath.Join(dir, "out.log")}
	vm, _ := f.start("web", func(s *Spec) { s.Stdio = stdio })
	if got := out.session(vm.ID); got.Stdio != stdio || got.Adopted {
		t.Errorf("session stdio %+v adopted %v, want %+v at a start", got.Stdio, got.Adopted, stdio)
	}
	if m := f.drive(vm.ID).Main; m == nil || !m.Stdin {
		t.Errorf("the guest's main process has no stdin open: %+v", m)
	}
	f.s.Close()
	f.s = f.service()
	f.s.Reconcile(context.Background())
	if got := out.session(vm.ID); got.Stdio != stdio || !got.Adopted {
		t.Errorf("after adoption: stdio %+v adopted %v", got.Stdio, got.Adopted)
	}
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}

	out.mu.Lock()
	out.fail = fmt.Errorf("stdout %s: permission denied", stdio.Stdout)
	out.mu.Unlock()
	_, err := f.s.Start(context.Background(), "web")
	if err == nil || !strings.Contains(err.Error(), stdio.Stdout) {
		t.Fatalf("start with a stdio path that cannot be opened: %v", err)
	}
	if got := f.get("web"); got.State != Failed || got.ErrorPhase != "output" || len(f.h.running()) != 0 {
		t.Errorf("after the failed start: state %s phase %q running %v", got.State, got.ErrorPhase, f.h.running())
	}
}
