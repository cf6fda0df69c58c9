package api

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// The daemon's event journal, GET /v1/events (GetEvents): one EventsLine
// per line, NDJSON. Every change the daemon makes — a VM created, started,
// exited, removed; an image pulled; a volume removed — is an EventRecord
// with a sequence number that strictly increases and is never reused, also
// across daemon restarts. A client that lost its stream asks again with
// since=the last Seq it saw and gets every later event still kept, then
// the live ones: no gap, no duplicate.

// EventRecord is one change.
type EventRecord struct {
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	// Type is vm, image, kernel, volume, checkpoint, snapshot or daemon.
	Type string `json:"type"`
	// Action is what happened: a VM's create, start, exit, stop, kill,
	// pause, unpause, rename, restart, remove or error (a failed start);
	// an image's pull, import or remove; ...; the daemon's start, ready
	// and stop.
	Action string `json:"action"`
	// ID and Name are the object's.
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Attributes are the details: a VM's labels (each under its own
	// key, as docker's) and image; an exit's exit_code, signal, oom,
	// reason, exited_at; a kill's signal; a rename's old_name; ...
	Attributes map[string]string `json:"attributes,omitempty"`
}

// EventsLost says that events the request asked for are no longer kept
// (the daemon keeps the last Retain): From through To. From is 0 when the
// request gave a time.
type EventsLost struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Retain int    `json:"retain"`
}

// EventsEnd is a stream's last line. Seq is where to resume (every event
// up to it was sent or filtered out); Error, when set, says why the daemon
// ended the stream before its until: the reader fell behind (it was more
// events behind than the daemon buffers), or the daemon is stopping.
type EventsEnd struct {
	Seq   uint64     `json:"seq"`
	Error *ErrorBody `json:"error,omitempty"`
}

// EventsLine is one line of the stream: exactly one field is set.
type EventsLine struct {
	Event *EventRecord `json:"event,omitempty"`
	Lost  *EventsLost  `json:"lost,omitempty"`
	End   *EventsEnd   `json:"end,omitempty"`
}

// ReadEvents reads a GetEvents stream, calling fn with each event and lost
// notice (a line of a kind this package does not know, from a newer
// daemon, is skipped), and returns its end: with a nil error when the
// stream reached its until, else the end's error (*Error). A stream that
// stops without its end line (the daemon went away), or in the middle of
// its last line, is errdefs.ErrUnavailable. When the stream breaks off or
// fn fails, the end's Seq is that of the last event fn took (0 when none
// was), where a request resumes with since.
func ReadEvents(r io.Reader, fn func(EventsLine) error) (EventsEnd, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var last uint64
	for sc.Scan() {
		var l EventsLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			if !sc.Scan() {
				break // the last line, cut short: the stream broke off
			}
			return EventsEnd{Seq: last}, fmt.Errorf("decode an event from the daemon: %w", err)
		}
		if l.End != nil {
			if l.End.Error != nil {
				return *l.End, &Error{*l.End.Error}
			}
			return *l.End, nil
		}
		if l.Event == nil && l.Lost == nil {
			continue
		}
		if err := fn(l); err != nil {
			return EventsEnd{Seq: last}, err
		}
		if l.Event != nil {
			last = l.Event.Seq
		}
	}
	err := sc.Err()
	if err == nil {
		err = errors.New("no end line")
	}
	return EventsEnd{Seq: last}, fmt.Errorf("%w: the event stream broke off (%w)", errdefs.ErrUnavailable, err)
}
