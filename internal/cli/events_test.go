package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

func TestLostText(t *testing.T) {
	for _, tc := range []struct {
		l    api.EventsLost
		want string
	}{
		{api.EventsLost{From: 3, To: 7, Retain: 5}, "events 3 to 7 are no longer kept (the daemon keeps the last 5, events.retain); going on with event 8"},
		{api.EventsLost{From: 4, To: 4, Retain: 1}, "event 4 is no longer kept (the daemon keeps the last 1, events.retain); going on with event 5"},
		{api.EventsLost{To: 9, Retain: 10}, "events up to 9 are no longer kept (the daemon keeps the last 10, events.retain); going on with event 10"},
	} {
		if got := lostText(tc.l); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.l, got, tc.want)
		}
	}
}

func TestEventLine(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	e := api.EventRecord{Seq: 12, Time: at, Type: "vm", Action: "exit", ID: "0123456789abcdef", Name: "web",
		Attributes: map[string]string{"image": "busybox", "exit_code": "3"}}
	got := eventLine(e)
	for _, want := range []string{at.Local().Format(time.RFC3339Nano), " 12 ", " vm ", " exit ", "web (0123456789ab)", "exit_code=3, image=busybox"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	// An object whose id is its name (a volume) shows it once.
	if got := eventLine(api.EventRecord{Type: "volume", Action: "create", ID: "data", Name: "data"}); strings.Contains(got, "(data)") || strings.HasSuffix(got, " ") {
		t.Errorf("%q", got)
	}
}
