package api

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/bangerdev/banger/pkg/progress"
)

// ContentTypeEvents is the media type of an event stream.
const ContentTypeEvents = "application/x-ndjson"

// Event is one line of an event stream. Exactly one of its pointer fields is
// set; Result and Error end the stream.
type Event struct {
	Progress *progress.Event `json:"progress,omitempty"`
	// Message is a line of text for the user ("using qemu with tcg: ...").
	Message string          `json:"message,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *ErrorBody      `json:"error,omitempty"`
}

// EventWriter writes an event stream to an HTTP response. It is safe for
// concurrent use, so a Reporter handed to concurrent producers can write to
// it directly.
type EventWriter struct {
	mu  sync.Mutex
	enc *json.Encoder
	rc  *http.ResponseController
	err error
}

// NewEventWriter starts an event stream on w.
func NewEventWriter(w http.ResponseWriter) *EventWriter {
	w.Header().Set("Content-Type", ContentTypeEvents)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return &EventWriter{enc: json.NewEncoder(w), rc: http.NewResponseController(w)}
}

// Write sends one event and flushes it. After the first failed write (the
// client went away) it keeps returning that error.
func (ew *EventWriter) Write(e Event) error {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	if ew.err != nil {
		return ew.err
	}
	if err := ew.enc.Encode(e); err != nil {
		ew.err = err
		return err
	}
	if err := ew.rc.Flush(); err != nil {
		ew.err = err
	}
	return ew.err
}

// Progress is a progress.Reporter writing to the stream.
func (ew *EventWriter) Progress(p progress.Event) { _ = ew.Write(Event{Progress: &p}) }

// Message sends a line of text.
func (ew *EventWriter) Message(s string) { _ = ew.Write(Event{Message: s}) }
