package daemon

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// eventWriteTimeout bounds one line's write to an events client: a client
// that reads nothing for this long loses its stream (and resumes by seq)
// rather than holding a goroutine forever.
const eventWriteTimeout = 30 * time.Second

// eventRoutes registers the event journal's stream.
func (d *Daemon) eventRoutes(rt *api.Router) {
	rt.Raw(api.GetEvents, d.streamEvents)
}

// streamEvents answers GET /v1/events: the headers once the stream is
// subscribed (so the client knows it misses nothing after them), then one
// line per event or lost notice, then the end line.
func (d *Daemon) streamEvents(w http.ResponseWriter, r *http.Request) {
	in, err := api.GetEvents.Decode(r)
	var q events.Query
	if err == nil {
		q, err = eventsQuery(in, time.Now())
	}
	var sub *events.Subscription
	if err == nil {
		sub, err = d.journal.Subscribe(q)
	}
	if err != nil {
		api.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", api.ContentTypeEvents)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	write := func(l api.EventsLine) error {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if err := enc.Encode(l); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := rc.Flush(); err != nil {
		sub.Close()
		return
	}
	seq, err := sub.Run(r.Context(), func(l events.Line) error { return write(wireEventsLine(l)) })
	if r.Context().Err() != nil {
		return
	}
	end := api.EventsEnd{Seq: seq}
	if err != nil {
		body := api.NewErrorBody(err)
		end.Error = &body
	}
	_ = write(api.EventsLine{End: &end})
}

// eventsQuery reads the request's bounds and filters.
func eventsQuery(in api.EventsQuery, now time.Time) (events.Query, error) {
	var q events.Query
	var err error
	if q.Since, err = events.ParseBound(in.Since, now); err != nil {
		return q, fmt.Errorf("since: %w", err)
	}
	if q.Until, err = events.ParseBound(in.Until, now); err != nil {
		return q, fmt.Errorf("until: %w", err)
	}
	if q.Filter, err = events.ParseFilter(in.Filter); err != nil {
		return q, err
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && q.Since.Time.IsZero() == q.Until.Time.IsZero() &&
		(q.Until.Seq < q.Since.Seq || q.Until.Time.Before(q.Since.Time)) {
		return q, fmt.Errorf("%w: until %s is before since %s", errdefs.ErrInvalid, q.Until, q.Since)
	}
	return q, nil
}

// publishDaemon reports the daemon's own start, ready and stop.
func (d *Daemon) publishDaemon(action events.Action) {
	d.journal.Publish(events.Event{Type: events.TypeDaemon, Action: action, ID: strconv.Itoa(os.Getpid()), Name: d.layout.State,
		Attributes: map[string]string{events.AttrVersion: version.String()}})
}
