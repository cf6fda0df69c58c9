// Package eventstest is a Publisher that records what the services
// report, for their tests.
package eventstest

import (
	"strings"
	"sync"

	"github.com/bangerdev/banger/internal/events"
)

// Recorder is an events.Publisher that keeps every event, in order. It
// is safe for concurrent use.
type Recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

var _ events.Publisher = (*Recorder)(nil)

// Publish keeps e.
func (r *Recorder) Publish(e events.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, e.Clone())
}

// Events returns every event kept, in order.
func (r *Recorder) Events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]events.Event, len(r.evs))
	for i, e := range r.evs {
		out[i] = e.Clone()
	}
	return out
}

// Of returns the events about the object id, in order.
func (r *Recorder) Of(id string) []events.Event {
	var out []events.Event
	for _, e := range r.Events() {
		if e.ID == id {
			out = append(out, e)
		}
	}
	return out
}

// Actions is the actions of Of(id), space-separated: "create start exit
// remove".
func (r *Recorder) Actions(id string) string {
	var a []string
	for _, e := range r.Of(id) {
		a = append(a, string(e.Action))
	}
	return strings.Join(a, " ")
}
