package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// openEvents calls GET /v1/events and reads it in the background.
func openEvents(t *testing.T, c *api.Client, q api.EventsQuery) (<-chan api.EventsLine, <-chan error) {
	t.Helper()
	body, err := api.Open(context.Background(), c, api.GetEvents, q)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = body.Close() })
	lines, done := make(chan api.EventsLine, 100), make(chan error, 1)
	go func() {
		_, err := api.ReadEvents(body, func(l api.EventsLine) error { lines <- l; return nil })
		close(lines)
		done <- err
	}()
	return lines, done
}

// TestEventsOverHTTP: the stream sends what the journal has after since,
// filtered, then live events; until ends it with an end line; a bad
// filter or a since from another journal is a 400 before any line.
func TestEventsOverHTTP(t *testing.T) {
	d, c := serveDaemon(t)
	start := d.journal.Last() // the daemon's own start
	d.journal.Publish(events.Event{Type: events.TypeVM, Action: events.Create, ID: "vm1", Name: "web", Attributes: map[string]string{"tier": "front"}})
	d.journal.Publish(events.Event{Type: events.TypeImage, Action: events.Pull, ID: "img1", Name: "debian"})

	lines, done := openEvents(t, c, api.EventsQuery{Since: "0", Filter: []string{"type=vm"}})
	// Published after the headers came: the stream has it.
	d.journal.Publish(events.Event{Type: events.TypeVM, Action: events.Start, ID: "vm1", Name: "web"})
	var got []string
	for len(got) < 2 {
		select {
		case l := <-lines:
			if l.Event == nil {
				t.Fatalf("line %+v, want an event", l)
			}
			got = append(got, l.Event.Action+" "+l.Event.Name+" "+l.Event.Attributes["tier"])
			if l.Event.Seq <= start || l.Event.Time.IsZero() {
				t.Errorf("event %+v: want a seq after the daemon's start and a time", l.Event)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("got %v, want the vm's create and start", got)
		}
	}
	if strings.Join(got, ",") != "create web front,start web " {
		t.Fatalf("events %q", got)
	}

	// until: the stream ends with an end line saying where it got to.
	body, err := api.Open(context.Background(), c, api.GetEvents, api.EventsQuery{Since: "0", Until: "3"})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	end, err := api.ReadEvents(body, func(api.EventsLine) error { n++; return nil })
	_ = body.Close()
	if err != nil || end.Seq != 3 || n != 3 {
		t.Fatalf("until 3: %d lines, end %+v, %v", n, end, err)
	}

	for _, q := range []api.EventsQuery{{Filter: []string{"type=container"}}, {Since: "yesterday"}, {Since: "99999"}, {Since: "5", Until: "4"}} {
		_, err := api.Open(context.Background(), c, api.GetEvents, q)
		if !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("%+v: %v, want invalid", q, err)
		}
	}

	// The daemon stopping ends the stream with where to resume.
	d.journal.Close()
	select {
	case err := <-done:
		if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "stopping") {
			t.Fatalf("stream ended with %v, want the daemon stopping", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the journal")
	}
}
