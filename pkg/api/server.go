package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxJSONBody bounds a request's JSON body; tarballs are streamed, not JSON.
const maxJSONBody = 1 << 20

// Router registers daemon handlers on a ServeMux, turning their return
// values into JSON responses or event streams.
type Router struct {
	Mux *http.ServeMux
	Log *slog.Logger
}

// ServeHTTP serves the routes registered on the Router's Mux; every
// answer (an error, a 404 of an unknown path, an upgrade's 101 included)
// carries the daemon's API version in HeaderAPIVersion.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderAPIVersion, APIVersion)
	rt.Mux.ServeHTTP(w, r)
}

// NewRouter returns a Router on a fresh ServeMux.
func NewRouter(log *slog.Logger) *Router {
	return &Router{Mux: http.NewServeMux(), Log: log}
}

// Entry is an endpoint of the table, whatever its request and answer
// types.
type Entry interface {
	Route() Route
}

// handle registers h for e, which must be of one of the kinds (the
// registering method's contract; a mismatch is a programming error).
func (rt *Router) handle(e Entry, h http.HandlerFunc, kinds ...Kind) {
	r := e.Route()
	if !slices.Contains(kinds, r.Kind) {
		panic(fmt.Sprintf("api: %s is a %s endpoint; it cannot be served as %v", r, r.Kind, kinds))
	}
	rt.Mux.HandleFunc(r.MuxPattern(), h)
}

// json registers a handler for a KindJSON endpoint (Handle is the typed
// way in, and the only one outside this package). The handler reads its
// request from r itself (Handle decodes it for a typed handler). A nil
// result with a nil error answers 204.
func (rt *Router) json(e Entry, h func(*http.Request) (any, error)) {
	rt.handle(e, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		v, err := h(r)
		rt.logRequest(r, start, err)
		if err != nil {
			WriteError(w, err)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	}, KindJSON)
}

// stream registers a handler for a KindEvents or KindUpload endpoint (see
// HandleStream): the
// handler reports progress on ew, and its result or error becomes the
// final event. The request's context is cancelled when the client
// disconnects.
func (rt *Router) stream(e Entry, h func(*http.Request, *EventWriter) (any, error)) {
	rt.handle(e, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// Streamed uploads (an image import) read the request body while
		// events flow back; without full duplex the HTTP/1 server discards
		// the unread body once the response starts.
		_ = http.NewResponseController(w).EnableFullDuplex()
		ew := NewEventWriter(w)
		v, err := h(r, ew)
		_ = r.Body.Close() // unread upload: closing it here keeps the full-duplex connection sane
		rt.logRequest(r, start, err)
		if err != nil {
			body := NewErrorBody(err)
			_ = ew.Write(Event{Error: &body})
			return
		}
		raw, merr := json.Marshal(v)
		if merr != nil {
			body := NewErrorBody(fmt.Errorf("encode result: %w", merr))
			_ = ew.Write(Event{Error: &body})
			return
		}
		_ = ew.Write(Event{Result: raw})
	}, KindEvents, KindUpload)
}

// Raw registers a plain http handler for a KindText or KindUpgrade
// endpoint, which answers on w itself (text, or Hijack). Its log line
// comes when the handler returns (an upgraded session: when it ends).
func (rt *Router) Raw(e Entry, h http.HandlerFunc) {
	rt.handle(e, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h(w, r)
		rt.logRequest(r, start, nil)
	}, KindText, KindUpgrade)
}

// logRequest logs one request with its caller's uid and pid (from
// SO_PEERCRED, see ConnContext) when the connection carried them.
func (rt *Router) logRequest(r *http.Request, start time.Time, err error) {
	if rt.Log == nil {
		return
	}
	attrs := []any{"method", r.Method, "path", r.URL.Path, "duration", time.Since(start).Round(time.Microsecond)}
	if p, ok := PeerOf(r.Context()); ok {
		attrs = append(attrs, "uid", p.UID, "pid", p.PID)
	}
	if err != nil {
		rt.Log.Warn("request failed", append(attrs, "error", err)...)
		return
	}
	rt.Log.Debug("request", attrs...)
}

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError answers err with the status of its errdefs kind.
func WriteError(w http.ResponseWriter, err error) {
	WriteJSON(w, errdefs.HTTPStatus(err), struct {
		Error ErrorBody `json:"error"`
	}{NewErrorBody(err)})
}

// DecodeJSON reads a bounded, strict JSON request body into v. Errors wrap
// errdefs.ErrInvalid.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty request body", errdefs.ErrInvalid)
		}
		return fmt.Errorf("%w: request body: %w", errdefs.ErrInvalid, err)
	}
	return nil
}
