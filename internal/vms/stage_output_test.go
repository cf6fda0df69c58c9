package vms

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmlogs"
)

// fakeOutputs records what the service asks of the output keeper.
type fakeOutputs struct {
	mu    sync.Mutex
	calls []string
	began map[string]vmlogs.Session
	// fail is what Begin answers (a stdio path that cannot be opened).
	fail error
}

func (o *fakeOutputs) Begin(id string, sess vmlogs.Session) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.began == nil {
		o.began = map[string]vmlogs.Session{}
	}
	o.began[id] = sess
	o.calls = append(o.calls, "begin "+id)
	return o.fail
}

func (o *fakeOutputs) End(id string) { o.add("end " + id) }

func (o *fakeOutputs) Forget(id string) { o.add("forget " + id) }

func (o *fakeOutputs) add(c string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, c)
}

func (o *fakeOutputs) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.calls)
}

func (o *fakeOutputs) session(id string) vmlogs.Session {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.began[id]
}

// The daemon attaches to the main process once the agent answers (after
// every other stage), from the run's start time, with the spec's stdin
// and TTY; a stop detaches; a restarted daemon that adopts the VM
// attaches again from the same start time; rm forgets it.
func TestOutputFollowsTheLifecycle(t *testing.T) {
	out := &fakeOutputs{}
	f := newFixture(t, func(f *fixture) { f.out = out })
	vm, _ := f.start("web", func(s *Spec) { s.Interactive, s.TTY = true, true })
	started := f.get("web").Started
	if got := out.log(); fmt.Sprint(got) != fmt.Sprint([]string{"begin " + vm.ID}) {
		t.Fatalf("after start: %v", got)
	}
	sess := out.session(vm.ID)
	if !sess.Started.Equal(started) || !sess.Stdin || !sess.TTY || sess.Source == nil {
		t.Errorf("session %+v, want started %v with stdin and a TTY", sess, started)
	}
	if st := f.s.pipeline(f.get("web")); st[len(st)-1].Name() != "output" {
		t.Errorf("the output stage is not last: it must follow the agent")
	}

	// The daemon restarts: the next one adopts the VM and attaches again.
	f.s.Close()
	f.s = f.service()
	f.s.Reconcile(context.Background())
	if got := out.log(); fmt.Sprint(got) != fmt.Sprint([]string{"begin " + vm.ID, "begin " + vm.ID}) {
		t.Fatalf("after adoption: %v", got)
	}
	if s := out.session(vm.ID); !s.Started.Equal(started) {
		t.Errorf("adopted session starts at %v, want the run's %v", s.Started, started)
	}

	if _, err := f.s.Stop(context.Background(), "web", time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the output detached", func() bool { return slices.Contains(out.log(), "end "+vm.ID) })
	if err := f.s.Remove(context.Background(), "web", false); err != nil {
		t.Fatal(err)
	}
	if got := out.log(); got[len(got)-1] != "forget "+vm.ID {
		t.Errorf("after rm: %v", got)
	}
}
