// Package progress carries progress of long work — layer downloads, ext4
// conversion, kernel imports, VM boots — from the code doing it to whoever
// shows it. Producers call a Reporter; the daemon streams the events to the
// CLI, which draws bars on a terminal and plain lines otherwise.
package progress

// Event is one progress update. Events with the same ID describe one task
// (a layer, a file); Total is 0 when unknown.
type Event struct {
	// ID names the task, e.g. a short layer digest or "ext4".
	ID string `json:"id"`
	// Action says what the task is doing: "pull", "cached", "verify",
	// "flatten", "convert", "done", ...
	Action string `json:"action"`
	// Current and Total are byte (or item) counts.
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
	// Message is free text for humans, shown as is.
	Message string `json:"message,omitempty"`
}

// Done reports whether the event marks the end of its task.
func (e Event) Done() bool { return e.Action == "done" || e.Action == "cached" }

// Reporter receives events. It must be safe for concurrent use when the
// producer works concurrently (layer downloads do).
type Reporter func(Event)

// Discard is a Reporter that drops every event.
func Discard(Event) {}

// Report calls r when it is not nil, so producers can take an optional
// Reporter without checking.
func (r Reporter) Report(e Event) {
	if r != nil {
		r(e)
	}
}

// Sink receives what long work tells whoever watches it: progress events
// and lines of text for the user ("debian:bookworm is up to date"). The
// daemon's API event stream is one; services take a Sink, not a transport.
type Sink interface {
	Progress(Event)
	Message(string)
}

// Quiet is a Sink that drops everything, for work nobody watches.
type Quiet struct{}

// Progress drops e.
func (Quiet) Progress(Event) {}

// Message drops s.
func (Quiet) Message(string) {}
