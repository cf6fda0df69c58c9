package vmlogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeSource is the guest's main process: each AttachMain hands the
// test its streams and returns what the test answers.
type fakeSource struct{ attaches chan *fakeAttach }

type fakeAttach struct {
	s      Streams
	result chan error // nil error: exit code 7
}

func newFakeSource() *fakeSource { return &fakeSource{attaches: make(chan *fakeAttach)} }

func (f *fakeSource) AttachMain(ctx context.Context, s Streams) (int, error) {
	a := &fakeAttach{s: s, result: make(chan error, 1)}
	select {
	case f.attaches <- a:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if s.Accepted != nil {
		s.Accepted()
	}
	select {
	case err := <-a.result:
		if err != nil {
			return 0, err
		}
		return 7, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (f *fakeSource) next(t *testing.T) *fakeAttach {
	t.Helper()
	select {
	case a := <-f.attaches:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("the service did not attach")
		return nil
	}
}

func newTestService(t *testing.T) (*Service, string) {
	t.Helper()
	dir := t.TempDir()
	return &Service{Path: func(id string) string { return filepath.Join(dir, id+".log") }, Retry: time.Millisecond}, filepath.Join(dir, "vm1.log")
}

// collect reads a subscription to its end: the text per stream, and the
// exit (nil when it ended without one) and the error it ended with.
func collect(t *testing.T, s *Sub) (stdout, stderr string, exit *Exit, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var o, e strings.Builder
	for {
		ev, err := s.Next(ctx)
		if err != nil {
			return o.String(), e.String(), nil, err
		}
		if ev.Exit != nil {
			return o.String(), e.String(), ev.Exit, nil
		}
		if ev.Entry.Stream == Stderr {
			e.Write(ev.Entry.Data)
		} else {
			o.Write(ev.Entry.Data)
		}
	}
}

// TestFanOut: every subscriber gets every line on its stream and the
// exit status; the file keeps the same; a subscriber that never reads is
// dropped with ErrSlow once it is SubBuffer behind, and the VM's output
// never waits for it.
func TestFanOut(t *testing.T) {
	svc, path := newTestService(t)
	src := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: src, Started: time.Now().Add(-time.Second)})
	a := src.next(t)
	var subs []*Sub
	for range 3 {
		_, s, err := svc.Subscribe("vm1", SubOptions{Follow: true})
		if err != nil || s == nil {
			t.Fatalf("subscribe: %v %v", s, err)
		}
		subs = append(subs, s)
	}
	_, slow, _ := svc.Subscribe("vm1", SubOptions{Follow: true})

	type res struct {
		out, errOut string
		exit        *Exit
		err         error
	}
	results := make(chan res, len(subs))
	for _, s := range subs {
		go func() {
			o, e, x, err := collect(t, s)
			results <- res{o, e, x, err}
		}()
	}
	line := bytes.Repeat([]byte("y"), 1023)
	var wantOut strings.Builder
	start := time.Now()
	lines := 2 * SubBuffer / 1024 // twice what the slow one may hold
	for i := range lines {
		l := fmt.Sprintf("%05d%s\n", i, line[5:])
		if _, err := a.s.Stdout.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
		wantOut.WriteString(l)
		if i%1024 == 1023 {
			// Let the readers catch up (a loaded host must not make a
			// reading subscriber look slow); the stuck one never does.
			for _, s := range subs {
				for queued(s) > SubBuffer/2 {
					time.Sleep(time.Millisecond)
				}
			}
		}
	}
	_, _ = a.s.Stderr.Write([]byte("oops\n"))
	writing := time.Since(start)
	a.result <- nil
	for range subs {
		r := <-results
		if r.err != nil || r.exit == nil || r.exit.Code != 7 {
			t.Fatalf("subscriber ended with %v, exit %v", r.err, r.exit)
		}
		if r.out != wantOut.String() || r.errOut != "oops\n" {
			t.Errorf("subscriber got %d bytes of stdout (want %d), stderr %q", len(r.out), wantOut.Len(), r.errOut)
		}
	}
	if _, _, _, err := collect(t, slow); !errors.Is(err, ErrSlow) {
		t.Errorf("the slow subscriber ended with %v, want ErrSlow", err)
	}
	kept := mustRead(t, path, 2, All)
	if len(kept) != lines+1 || string(kept[len(kept)-1].Data) != "oops\n" || kept[len(kept)-1].Stream != Stderr {
		t.Errorf("the file kept %d entries, want %d ending with stderr's", len(kept), lines+1)
	}
	t.Logf("%d lines (%d MiB) to 3 readers and a stuck one in %v", lines, lines>>10, writing)
}

// TestReattach: a broken attachment is retried; lines before and after
// are kept once each, a subscriber stays through it, and a partial line
// of the broken one is flushed.
func TestReattach(t *testing.T) {
	svc, path := newTestService(t)
	src := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: src, Started: time.Now()})
	_, sub, _ := svc.Subscribe("vm1", SubOptions{Follow: true})
	a := src.next(t)
	_, _ = a.s.Stdout.Write([]byte("one\ntw"))
	a.result <- errors.New("connection lost")
	b := src.next(t)
	_, _ = b.s.Stdout.Write([]byte("three\n"))
	b.result <- nil
	out, _, exit, err := collect(t, sub)
	if err != nil || exit == nil || out != "one\ntwthree\n" {
		t.Fatalf("subscriber: %q exit %v err %v", out, exit, err)
	}
	kept := mustRead(t, path, 2, All)
	var got []string
	for _, e := range kept {
		got = append(got, string(e.Data))
	}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", []string{"one\n", "tw", "three\n"}) {
		t.Errorf("kept %q", got)
	}
	if svc.hub("vm1").isRunning() {
		t.Error("the session still runs after the exit")
	}
}

// TestBacklogThenFollow: a subscriber that asks for the session's
// backlog while output is being written sees each line exactly once, in
// order; output of an earlier session is not in an attach's backlog.
func TestBacklogThenFollow(t *testing.T) {
	svc, _ := newTestService(t)
	now := time.Now()
	svc.Now = func() time.Time { return now }
	old := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: old, Started: now.Add(-time.Hour)})
	prev := old.next(t)
	now = now.Add(-30 * time.Minute)
	_, _ = prev.s.Stdout.Write([]byte("earlier run\n"))
	prev.result <- nil
	now = now.Add(30 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for svc.hub("vm1").isRunning() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}

	src := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: src, Started: now.Add(-time.Second)})
	a := src.next(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			_, _ = fmt.Fprintf(a.s.Stdout, "%d\n", i)
		}
	}()
	time.Sleep(time.Millisecond)
	backlog, sub, err := svc.Subscribe("vm1", SubOptions{Backlog: &Query{Tail: -1}, Session: true, Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	a.result <- nil
	var all strings.Builder
	for _, e := range backlog {
		all.Write(e.Data)
	}
	out, _, _, _ := collect(t, sub)
	all.WriteString(out)
	var want strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if all.String() != want.String() {
		t.Errorf("backlog (%d entries) + live differ from what was written (%d vs %d bytes)", len(backlog), all.Len(), want.Len())
	}
}

// TestStdinAndEnd: a subscriber's input reaches the session's stdin and
// closing it is EOF there; End leaves waiting subscribers with ErrEnded.
func TestStdinAndEnd(t *testing.T) {
	svc, _ := newTestService(t)
	src := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: src, Started: time.Now(), Stdin: true})
	a := src.next(t)
	_, sub, _ := svc.Subscribe("vm1", SubOptions{Follow: true})
	go func() {
		_, _ = sub.WriteStdin([]byte("hello"))
		sub.CloseStdin()
	}()
	in, err := io.ReadAll(a.s.Stdin)
	if err != nil || string(in) != "hello" {
		t.Fatalf("stdin got %q, %v", in, err)
	}
	svc.End("vm1")
	if _, _, exit, err := collect(t, sub); exit != nil || !errors.Is(err, ErrEnded) {
		t.Errorf("after End: exit %v err %v, want ErrEnded", exit, err)
	}
	// Without a session, a follow gets no subscriber unless it waits for
	// the next run.
	if _, s, _ := svc.Subscribe("vm1", SubOptions{Follow: true}); s != nil {
		t.Error("a follow without a session got a subscriber")
	}
	_, next, _ := svc.Subscribe("vm1", SubOptions{Follow: true, Next: true})
	mustBegin(t, svc, "vm1", Session{Source: src, Started: time.Now()})
	b := src.next(t)
	_, _ = b.s.Stdout.Write([]byte("next run\n"))
	b.result <- nil
	if out, _, exit, _ := collect(t, next); out != "next run\n" || exit == nil {
		t.Errorf("the next-run subscriber got %q, exit %v", out, exit)
	}
}

func queued(s *Sub) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// refusingSource is a VM without a main process: the agent refuses.
type refusingSource struct{ calls chan struct{} }

func (r refusingSource) AttachMain(context.Context, Streams) (int, error) {
	select {
	case r.calls <- struct{}{}:
	default:
	}
	return 0, errors.New("attach refused")
}

// TestAttached: an attach waits for the daemon's own attachment; a VM
// whose agent refuses (no main process) or that runs no session is not
// attached, and the refusals are retried with a growing pause.
func TestAttached(t *testing.T) {
	svc, _ := newTestService(t)
	if svc.Attached("vm1", 10*time.Millisecond) {
		t.Error("attached without a session")
	}
	src := newFakeSource()
	mustBegin(t, svc, "vm1", Session{Source: src, Started: time.Now()})
	go func() { time.Sleep(50 * time.Millisecond); src.next(t) }()
	if !svc.Attached("vm1", 5*time.Second) {
		t.Error("not attached once the source accepted")
	}
	svc.End("vm1")

	r := refusingSource{calls: make(chan struct{}, 1)}
	mustBegin(t, svc, "vm2", Session{Source: r, Started: time.Now()})
	defer svc.End("vm2")
	if svc.Attached("vm2", 100*time.Millisecond) {
		t.Error("attached to a VM whose agent refuses")
	}
	n := 0
	deadline := time.After(200 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-r.calls:
			n++
		case <-deadline:
			done = true
		}
	}
	if n > 10 {
		t.Errorf("%d attach attempts in 200ms: the retry does not back off", n)
	}
}

func mustBegin(t *testing.T, svc *Service, id string, sess Session) {
	t.Helper()
	if err := svc.Begin(id, sess); err != nil {
		t.Fatal(err)
	}
}
