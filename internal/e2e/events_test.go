package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// eventStream is an open GET /v1/events read in the background.
type eventStream struct {
	lines chan api.EventRecord
	done  chan error
	end   api.EventsEnd
	stop  context.CancelFunc
}

// subscribe opens the daemon's event stream at host; it returns once the
// daemon subscribed it, so every later event is in it.
func subscribe(t *testing.T, host string, q api.EventsQuery) *eventStream {
	t.Helper()
	c, err := api.NewClient(host)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	body, err := api.Open(ctx, c, api.GetEvents, q)
	if err != nil {
		t.Fatal(err)
	}
	s := &eventStream{lines: make(chan api.EventRecord, 1000), done: make(chan error, 1), stop: cancel}
	go func() {
		defer func() { _ = body.Close() }()
		end, err := api.ReadEvents(body, func(l api.EventsLine) error {
			if l.Lost != nil {
				return fmt.Errorf("unexpected lost line %+v", *l.Lost)
			}
			s.lines <- *l.Event
			return nil
		})
		s.end = end
		s.done <- err
	}()
	return s
}

// until reads events until one satisfies last, and returns them all.
func (s *eventStream) until(t *testing.T, what string, timeout time.Duration, last func(api.EventRecord) bool) []api.EventRecord {
	t.Helper()
	var got []api.EventRecord
	deadline := time.After(timeout)
	for {
		select {
		case e := <-s.lines:
			got = append(got, e)
			if last(e) {
				return got
			}
		case err := <-s.done:
			t.Fatalf("the stream ended (%v) before %s; got %s", err, what, describe(got))
		case <-deadline:
			t.Fatalf("no %s within %v; got %s", what, timeout, describe(got))
		}
	}
}

func describe(evs []api.EventRecord) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %d %s %s %s %v", e.Seq, e.Type, e.Action, e.Name, e.Attributes)
	}
	return b.String()
}

// actionsOf is the actions of the events about id, in order.
func actionsOf(evs []api.EventRecord, id string) string {
	var a []string
	for _, e := range evs {
		if e.ID == id {
			a = append(a, e.Action)
		}
	}
	return strings.Join(a, " ")
}

// checkSeqs fails unless evs are numbered from..from+len-1: no gap, no
// duplicate, in order.
func checkSeqs(t *testing.T, evs []api.EventRecord, from uint64) {
	t.Helper()
	for i, e := range evs {
		if e.Seq != from+uint64(i) {
			t.Fatalf("event %d has seq %d, want %d: a gap or a duplicate%s", i, e.Seq, from+uint64(i), describe(evs))
		}
	}
}

// TestEventsOfARunRm: a subscriber sees a `run --rm` VM whose command
// exits 3 as create, start, exit (exit_code 3), remove, in order; the
// CLI prints the same events as NDJSON.
func TestEventsOfARunRm(t *testing.T) {
	f := env(t)
	s := subscribe(t, f.host, api.EventsQuery{Filter: []string{"type=vm"}})
	if _, errOut, code := f.cli(nil, "run", "--rm", "--name", "ev-rm", "--label", "suite=events", "busybox", "sh", "-c", "exit 3"); code != 3 {
		t.Fatalf("run --rm: exit %d, want the command's 3\n%s", code, errOut)
	}
	evs := s.until(t, "the VM's removal", 2*time.Minute, func(e api.EventRecord) bool { return e.Name == "ev-rm" && e.Action == "remove" })
	id := evs[len(evs)-1].ID
	if got := actionsOf(evs, id); got != "create start exit remove" {
		t.Fatalf("the VM's events: %q, want create start exit remove%s", got, describe(evs))
	}
	var mine []api.EventRecord
	for _, e := range evs {
		if e.ID == id {
			mine = append(mine, e)
			if e.Attributes["suite"] != "events" || e.Attributes["image"] != "busybox" {
				t.Errorf("%s event without the VM's label and image: %v", e.Action, e.Attributes)
			}
		}
	}
	if a := mine[2].Attributes; a["exit_code"] != "3" || a["oom"] != "false" {
		t.Errorf("exit attributes %v, want exit_code 3, oom false", a)
	}

	// The CLI replays the same four from the journal and ends at --until.
	out := f.must(t, "events", "--since", fmt.Sprint(mine[0].Seq-1), "--until", fmt.Sprint(mine[3].Seq),
		"--filter", "vm=ev-rm", "--format", "json")
	var cliSeqs []uint64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e api.EventRecord
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("events --format json line %q: %v", line, err)
		}
		cliSeqs = append(cliSeqs, e.Seq)
	}
	if fmt.Sprint(cliSeqs) != fmt.Sprint([]uint64{mine[0].Seq, mine[1].Seq, mine[2].Seq, mine[3].Seq}) {
		t.Fatalf("banger events printed seqs %v, the stream had %s", cliSeqs, describe(mine))
	}
}

// TestEventsResumeAcrossDaemonKill: the daemon is SIGKILLed while a
// subscriber follows it; the VM's main process exits (5) while no daemon
// runs; a new daemon records that exit during adoption, and the
// subscriber, resuming with since=the last seq it saw, gets the new
// daemon's start, that exit and its ready, numbered on with no gap and no
// duplicate.
func TestEventsResumeAcrossDaemonKill(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	host := "unix://" + pd.sock
	s := subscribe(t, host, api.EventsQuery{Since: "0"})
	id := strings.TrimSpace(pd.run(t, "run", "-d", "--name", "ev-kill", "busybox", "sh", "-c", "sleep 8; exit 5"))
	before := s.until(t, "the VM's start", time.Minute, func(e api.EventRecord) bool { return e.ID == id && e.Action == "start" })
	checkSeqs(t, before, 1)
	last := before[len(before)-1].Seq

	pd.kill()
	select {
	case err := <-s.done:
		if !errors.Is(err, errdefs.ErrUnavailable) || s.end.Seq != last {
			t.Fatalf("the killed daemon's stream ended with %v at %d; want it broken off at %d", err, s.end.Seq, last)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its daemon")
	}
	deadline := time.Now().Add(time.Minute)
	for len(pidsOf(id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the VM did not end while no daemon ran")
		}
		time.Sleep(200 * time.Millisecond)
	}

	pd.start(t)
	r := subscribe(t, host, api.EventsQuery{Since: fmt.Sprint(last)})
	after := r.until(t, "the new daemon's ready", time.Minute, func(e api.EventRecord) bool { return e.Type == "daemon" && e.Action == "ready" })
	checkSeqs(t, after, last+1)
	var kinds []string
	for _, e := range after {
		kinds = append(kinds, e.Type+" "+e.Action)
	}
	if got := strings.Join(kinds, ", "); got != "daemon start, vm exit, daemon ready" {
		t.Fatalf("after the restart: %s, want the daemon's start, the VM's exit, its ready%s", got, describe(after))
	}
	if e := after[1]; e.ID != id || e.Attributes["exit_code"] != "5" {
		t.Fatalf("the exit recorded during adoption: %+v, want vm %s with exit_code 5", e, id)
	}
	// The CLI resumes the same way, from the binary, and ends at --until.
	out := pd.run(t, "events", "--since", fmt.Sprint(last), "--until", fmt.Sprint(after[2].Seq))
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], " vm ") || !strings.Contains(lines[1], "exit_code=5") {
		t.Fatalf("banger events --since %d:\n%s", last, out)
	}
}
