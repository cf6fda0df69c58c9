package dockerapi

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"strings"
	"time"

	dockerevents "github.com/moby/moby/api/types/events"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/labels"
)

// eventRoutes: Docker's event stream, from banger's event journal
// (internal/events) — the same events `banger events` streams, in
// Docker's shape.
func (s *Server) eventRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /events", s.events)
}

// The event filters served.
var eventFilterKeys = []string{"type", "container", "image", "event", "label", "volume", "network", "daemon"}

// eventWriteTimeout bounds one event's write: a client that reads
// nothing for this long loses its stream.
const eventWriteTimeout = 30 * time.Second

// events streams the journal's events after since (a Unix time, as
// Docker's CLI sends it) until until, or until the client leaves; the
// filters are Docker's, applied to the events in Docker's shape. Events
// Docker has no word for (a checkpoint's, a kernel's, the daemon's own)
// are left out.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := parseFiltersOf(q.Get("filters"), eventFilterKeys)
	var jq events.Query
	if err == nil {
		jq, err = eventBounds(q.Get("since"), q.Get("until"))
	}
	var sub *events.Subscription
	if err == nil {
		sub, err = s.opts.Ops.Journal.Subscribe(jq)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		sub.Close()
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.opts.Ctx, cancel)
	defer stop()
	enc := json.NewEncoder(w)
	_, err = sub.Run(ctx, func(l events.Line) error {
		if l.Event == nil {
			return nil // Docker has no word for events no longer kept
		}
		m, ok := dockerEvent(*l.Event)
		if !ok || !eventMatch(f, m) {
			return nil
		}
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if err := enc.Encode(m); err != nil {
			return err
		}
		return rc.Flush()
	})
	if err != nil {
		s.opts.Log.Debug("docker api event stream ended", "error", err)
	}
}

// eventBounds reads since and until (parseUnixTime's forms).
func eventBounds(since, until string) (events.Query, error) {
	var q events.Query
	for _, b := range []struct {
		name, v string
		to      *events.Bound
	}{{"since", since, &q.Since}, {"until", until, &q.Until}} {
		t, err := parseUnixTime(b.name, b.v)
		if err != nil {
			return q, err
		}
		if !t.IsZero() {
			*b.to = events.TimeBound(t)
		}
	}
	return q, nil
}

// The banger attributes that are not labels: Docker's events carry a
// container's labels as attributes, and these would pass for labels.
var eventAttrs = []string{
	events.AttrExitCode, events.AttrExitedAt, events.AttrSignal, events.AttrOOM, events.AttrReason,
	events.AttrError, events.AttrOldName, events.AttrVM, events.AttrVersion, events.AttrPID,
	events.AttrState, events.AttrRestarts, events.AttrPhase, events.AttrVMName, events.AttrKernel,
}

// dockerEvent is e in Docker's shape (false: Docker has no such event).
// A VM's events are a container's, its exit Docker's die and its
// removal destroy; an image's removal is delete, a volume's and a
// network's destroy.
func dockerEvent(e events.Event) (dockerevents.Message, bool) {
	m := dockerevents.Message{Action: dockerevents.Action(e.Action), Scope: "local", Time: e.Time.Unix(), TimeNano: e.Time.UnixNano()}
	attrs := map[string]string{}
	switch e.Type {
	case events.TypeVM:
		m.Type, m.Actor.ID = dockerevents.ContainerEventType, containerID(e.ID)
		maps.Copy(attrs, e.Attributes)
		for _, k := range eventAttrs {
			delete(attrs, k)
		}
		attrs["name"] = e.Name
		switch e.Action {
		case events.Exit:
			m.Action = dockerevents.ActionDie
			attrs["exitCode"] = e.Attributes[events.AttrExitCode]
		case events.Remove:
			m.Action = dockerevents.ActionDestroy
		case events.Kill:
			attrs["signal"] = e.Attributes[events.AttrSignal]
		case events.Rename:
			attrs["oldName"] = "/" + e.Attributes[events.AttrOldName]
		case events.Create, events.Start, events.Stop, events.Pause, events.Unpause, events.Restart:
		default:
			return m, false
		}
	case events.TypeImage:
		m.Type, m.Actor.ID = dockerevents.ImageEventType, e.Name
		if m.Actor.ID == "" {
			m.Actor.ID = e.ID
		}
		attrs["name"] = m.Actor.ID
		switch e.Action {
		case events.Remove:
			m.Action = dockerevents.ActionDelete
		case events.Pull, events.Import, events.Load, events.Tag, events.Push:
		default:
			return m, false
		}
	case events.TypeVolume, events.TypeNetwork:
		if e.Type == events.TypeVolume {
			m.Type, m.Actor.ID = dockerevents.VolumeEventType, e.Name
			attrs["driver"] = volumeDriver
		} else {
			m.Type, m.Actor.ID = dockerevents.NetworkEventType, e.ID
			attrs["name"], attrs["type"] = e.Name, "bridge"
		}
		switch e.Action {
		case events.Remove:
			m.Action = dockerevents.ActionDestroy
		case events.Create:
		default:
			return m, false
		}
	default:
		return m, false
	}
	m.Actor.Attributes = attrs
	return m, true
}

// eventMatch applies Docker's event filters: each key's values are
// alternatives and every key must hold; container and volume match an
// id or name prefix, image an image event's name or a container's
// image, label every KEY or KEY=VALUE among the attributes.
func eventMatch(f filters, m dockerevents.Message) bool {
	prefixOf := func(t dockerevents.Type) func(string) bool {
		return func(v string) bool {
			return m.Type == t && (strings.HasPrefix(m.Actor.ID, v) || strings.HasPrefix(m.Actor.Attributes["name"], v))
		}
	}
	return f.anyOf("type", func(v string) bool { return string(m.Type) == v }) &&
		f.anyOf("event", func(v string) bool { return string(m.Action) == v }) &&
		f.anyOf("container", prefixOf(dockerevents.ContainerEventType)) &&
		f.anyOf("volume", prefixOf(dockerevents.VolumeEventType)) &&
		f.anyOf("network", prefixOf(dockerevents.NetworkEventType)) &&
		f.anyOf("daemon", prefixOf(dockerevents.DaemonEventType)) &&
		f.anyOf("image", func(v string) bool {
			return (m.Type == dockerevents.ImageEventType && imageNamed(m.Actor.ID, v)) || imageNamed(m.Actor.Attributes["image"], v)
		}) &&
		labels.Match(m.Actor.Attributes, f["label"])
}

// imageNamed says whether a container's image reference is v: the same
// text, or the same image once both are normalized (alpine is
// docker.io/library/alpine:latest), as Docker's filter compares them.
func imageNamed(image, v string) bool {
	if image == "" || image == v {
		return image != ""
	}
	a, errA := imagepull.NormalizeName(image)
	b, errB := imagepull.NormalizeName(v)
	return errA == nil && errB == nil && a == b
}
