package events

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// openJournal opens a journal on a fresh database; reopen opens it again
// on the same file, as a restarted daemon does.
func openJournal(t *testing.T, opts Options) (*Journal, func(Options) *Journal) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "banger.db")
	var st *store.Store
	reopen := func(o Options) *Journal {
		t.Helper()
		if st != nil {
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if st, err = store.Open(path); err != nil {
			t.Fatal(err)
		}
		j, err := Open(st, o)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	t.Cleanup(func() { _ = st.Close() })
	return reopen(opts), reopen
}

func publishN(j *Journal, n int) {
	for i := range n {
		j.Publish(Event{Type: TypeVM, Action: Create, ID: fmt.Sprintf("vm%d", i), Name: fmt.Sprintf("n%d", i)})
	}
}

// collect runs Stream in the background and gathers what it sends.
type collector struct {
	mu    sync.Mutex
	lines []Line
	done  chan error
}

func collect(ctx context.Context, j *Journal, q Query) *collector {
	c := &collector{done: make(chan error, 1)}
	go func() {
		_, err := j.Stream(ctx, q, func(l Line) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.lines = append(c.lines, l)
			return nil
		})
		c.done <- err
	}()
	return c
}

func (c *collector) seqs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint64
	for _, l := range c.lines {
		if l.Event != nil {
			out = append(out, l.Event.Seq)
		}
	}
	return out
}

func (c *collector) waitFor(t *testing.T, n int) []uint64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(c.seqs()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %v, want %d events", c.seqs(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return c.seqs()
}

func wantRange(t *testing.T, got []uint64, from, to uint64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("got %d events %v, want %d..%d", len(got), got, from, to)
	}
	for i, s := range got {
		if s != from+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d (all: %v)", i, s, from+uint64(i), got)
		}
	}
}

func TestSequenceSurvivesReopen(t *testing.T) {
	j, reopen := openJournal(t, Options{})
	publishN(j, 3)
	if j.Last() != 3 {
		t.Fatalf("last = %d, want 3", j.Last())
	}
	j = reopen(Options{})
	j.Publish(Event{Type: TypeDaemon, Action: Start})
	if j.Last() != 4 {
		t.Fatalf("after reopen last = %d, want 4: sequence numbers were reused", j.Last())
	}
	// With only one event kept, the next daemon still numbers on.
	j = reopen(Options{Retain: 1})
	j.Publish(Event{Type: TypeDaemon, Action: Start})
	j = reopen(Options{Retain: 1})
	j.Publish(Event{Type: TypeDaemon, Action: Start})
	if j.Last() != 6 {
		t.Fatalf("last = %d, want 6", j.Last())
	}
	evs, err := j.page(0, 10)
	if err != nil || len(evs) != 1 || evs[0].Seq != 6 || evs[0].Time.IsZero() {
		t.Fatalf("kept %+v, %v; want only seq 6, timed", evs, err)
	}
}

func TestResumeReplaysThenLive(t *testing.T) {
	j, _ := openJournal(t, Options{})
	publishN(j, 5)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := collect(ctx, j, Query{Since: SeqBound(2)})
	c.waitFor(t, 3)
	publishN(j, 2)
	wantRange(t, c.waitFor(t, 5), 3, 7)
	cancel()
	if err := <-c.done; err != nil {
		t.Fatalf("a stream its caller ended: %v", err)
	}
}

// TestNoGapNoDuplicateUnderLoad subscribes while events are published
// from several goroutines: the replay and the live side meet with every
// sequence number once.
func TestNoGapNoDuplicateUnderLoad(t *testing.T) {
	j, _ := openJournal(t, Options{Buffer: 4096})
	publishN(j, 50)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); publishN(j, 100) }()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.Sleep(time.Millisecond)
	c := collect(ctx, j, Query{Since: SeqBound(0)})
	wg.Wait()
	wantRange(t, c.waitFor(t, 450), 1, 450)
}

func TestRetentionAnnouncesLostEvents(t *testing.T) {
	j, _ := openJournal(t, Options{Retain: 5})
	publishN(j, 12)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := collect(ctx, j, Query{Since: SeqBound(2), Until: SeqBound(12)})
	if err := <-c.done; err != nil {
		t.Fatal(err)
	}
	if len(c.lines) == 0 || c.lines[0].Lost == nil || *c.lines[0].Lost != (Lost{From: 3, To: 7, Retain: 5}) {
		t.Fatalf("first line %+v, want events 3..7 announced lost", c.lines)
	}
	wantRange(t, c.seqs(), 8, 12)

	// A resume within what is kept announces nothing.
	c = collect(ctx, j, Query{Since: SeqBound(9), Until: SeqBound(12)})
	if err := <-c.done; err != nil || c.lines[0].Lost != nil {
		t.Fatalf("%+v, %v", c.lines, err)
	}
	wantRange(t, c.seqs(), 10, 12)

	// A time before everything kept: the dropped ones may have been in it.
	c = collect(ctx, j, Query{Since: TimeBound(time.Now().Add(-time.Hour)), Until: SeqBound(12)})
	if err := <-c.done; err != nil || c.lines[0].Lost == nil || c.lines[0].Lost.To != 7 {
		t.Fatalf("%+v, %v; want a lost line up to 7", c.lines, err)
	}
	wantRange(t, c.seqs(), 8, 12)

	// A sequence number this journal never had.
	_, err := j.Stream(ctx, Query{Since: SeqBound(99)}, func(Line) error { return nil })
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("since after the last event: %v, want invalid", err)
	}
}

func TestUntilEndsTheStream(t *testing.T) {
	j, _ := openJournal(t, Options{})
	publishN(j, 3)
	ctx := context.Background()
	// Until only: everything kept up to it.
	c := collect(ctx, j, Query{Until: SeqBound(2)})
	if err := <-c.done; err != nil {
		t.Fatal(err)
	}
	wantRange(t, c.seqs(), 1, 2)
	// Until ahead: the stream waits for it, filtered or not.
	c = collect(ctx, j, Query{Since: SeqBound(3), Until: SeqBound(5), Filter: Filter{Types: []Type{TypeImage}}})
	j.Publish(Event{Type: TypeImage, Action: Pull, Name: "a"})
	j.Publish(Event{Type: TypeVM, Action: Start, Name: "b"})
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end at its until (a filtered event)")
	}
	wantRange(t, c.seqs(), 4, 4)
	// A time until: ends when it passes.
	start := time.Now()
	c = collect(ctx, j, Query{Until: TimeBound(start.Add(100 * time.Millisecond)), Since: SeqBound(j.Last())})
	if err := <-c.done; err != nil || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("ended after %v: %v", time.Since(start), err)
	}
}

// TestSlowSubscriberIsCutOff: a reader that does not read never holds up
// Publish; it is cut off with where to resume, and the resume misses
// nothing.
func TestSlowSubscriberIsCutOff(t *testing.T) {
	j, _ := openJournal(t, Options{Buffer: 4})
	release := make(chan struct{})
	var got []uint64
	done := make(chan error, 1)
	var covered uint64
	go func() {
		var err error
		covered, err = j.Stream(context.Background(), Query{Since: SeqBound(0)}, func(l Line) error {
			<-release
			got = append(got, l.Event.Seq)
			return nil
		})
		done <- err
	}()
	for j.subscribers() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	publishN(j, 20)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("publishing to a stuck reader took %v", d)
	}
	close(release)
	err := <-done
	if !errors.Is(err, ErrFellBehind) || !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("stream ended with %v, want fell behind", err)
	}
	resume := got[len(got)-1]
	if covered != resume {
		t.Fatalf("the stream says it covered %d, but sent up to %d", covered, resume)
	}
	if want := fmt.Sprintf("since=%d", resume); !strings.Contains(err.Error(), want) {
		t.Fatalf("%q does not say %s", err, want)
	}
	wantRange(t, got, 1, resume)
	c := collect(context.Background(), j, Query{Since: SeqBound(resume), Until: SeqBound(20)})
	if err := <-c.done; err != nil {
		t.Fatal(err)
	}
	wantRange(t, c.seqs(), resume+1, 20)
}

func TestCloseEndsStreams(t *testing.T) {
	j, _ := openJournal(t, Options{})
	c := collect(context.Background(), j, Query{})
	for j.subscribers() == 0 {
		time.Sleep(time.Millisecond)
	}
	j.Publish(Event{Type: TypeDaemon, Action: Stop})
	c.waitFor(t, 1)
	j.Close()
	if err := <-c.done; !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), "since=1") {
		t.Fatalf("%v, want closed, resume since=1", err)
	}
	j.Publish(Event{Type: TypeDaemon, Action: Start})
	if evs, err := j.page(2, 1); err != nil || len(evs) != 1 {
		t.Fatalf("an event published after Close was not kept: %v, %v", evs, err)
	}
	if _, err := j.Subscribe(Query{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("subscribe after Close: %v", err)
	}
}

func (j *Journal) subscribers() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.subs)
}
