package sshproxy

import (
	"encoding/json"
	"sync"
	"time"
)

// RequestTimings is the global request a client sends, once its channels
// ended, to learn where the daemon's side of the connection spent its
// time (`banger exec --timings`). The proxy answers it itself, never the
// agent; the reply is the Trace as JSON: step names to milliseconds.
const RequestTimings = "banger-timings@banger.dev"

// Trace records how long the steps of one proxied connection took: the
// daemon's own (the VM lookup, the upgrade), the handshake, and per
// channel the agent's answers (open, each request's reply, the exit
// status). Recording is a clock read and a map write per step, so every
// connection has one; only a client that asks sees it.
type Trace struct {
	mu    sync.Mutex
	last  time.Time
	steps map[string]float64
}

// NewTrace starts a trace at start (when the request arrived).
func NewTrace(start time.Time) *Trace {
	return &Trace{last: start, steps: map[string]float64{}}
}

// Mark ends step name: it took the time since the previous Mark (or the
// start).
func (t *Trace) Mark(name string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps[name] = ms(now.Sub(t.last))
	t.last = now
}

// Span records step name as the time since from; the next Mark still
// counts from the previous one. A step recorded twice (a second channel)
// keeps the last value.
func (t *Trace) Span(name string, from time.Time) { t.Set(name, time.Since(from)) }

// Set records step name as d.
func (t *Trace) Set(name string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.steps[name] = ms(d)
}

// JSON is the trace as the reply to RequestTimings carries it.
func (t *Trace) JSON() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, _ := json.Marshal(t.steps)
	return b
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
