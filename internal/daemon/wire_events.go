package daemon

import (
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/pkg/api"
)

func wireEventsLine(l events.Line) api.EventsLine {
	switch {
	case l.Event != nil:
		e := l.Event
		return api.EventsLine{Event: &api.EventRecord{Seq: e.Seq, Time: e.Time, Type: string(e.Type), Action: string(e.Action),
			ID: e.ID, Name: e.Name, Attributes: e.Attributes}}
	case l.Lost != nil:
		return api.EventsLine{Lost: &api.EventsLost{From: l.Lost.From, To: l.Lost.To, Retain: l.Lost.Retain}}
	}
	return api.EventsLine{}
}
