package cli

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
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

// TestEventsEndedByDaemon: a stream the daemon ends early (this reader
// fell behind) or that breaks off prints the events it had and fails
// saying the daemon's reason and how to go on without a gap; one broken
// before any event has no place to go on from and says none.
func TestEventsEndedByDaemon(t *testing.T) {
	const (
		e7 = `{"event":{"seq":7,"time":"2026-05-01T10:00:00Z","type":"vm","action":"start","name":"web"}}` + "\n"
		e8 = `{"event":{"seq":8,"time":"2026-05-01T10:00:01Z","type":"vm","action":"exit","name":"web"}}` + "\n"
	)
	for _, tc := range []struct {
		name, stream string
		events       int
		want         []string
		not          string
	}{
		{"fell behind", e7 + e8 + `{"end":{"seq":8,"error":{"kind":"internal","message":"the reader fell too far behind the events"}}}` + "\n",
			2, []string{"events stopped after event 8: the reader fell too far behind the events", "banger events --since 8"}, ""},
		{"broken off", e7, 1, []string{"events stopped after event 7:", "broke off", "banger events --since 7"}, ""},
		{"broken off before any event", "", 0, []string{"broke off"}, "--since"},
	} {
		rt := api.NewRouter(nil)
		api.Handle(rt, api.GetVersion, func(*http.Request, api.None) (api.VersionInfo, error) {
			return api.VersionInfo{Version: "test", APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, nil
		})
		rt.Raw(api.GetEvents, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", api.ContentTypeEvents)
			_, _ = io.WriteString(w, tc.stream)
		})
		host := testutil.ServeUnix(t, rt)
		var out, errOut bytes.Buffer
		app := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}
		code := app.Run([]string{"--host", host, "events"})
		lines := strings.Count(out.String(), "\n")
		fail := code != ExitBanger || lines != tc.events || tc.not != "" && strings.Contains(errOut.String(), tc.not)
		for _, w := range tc.want {
			fail = fail || !strings.Contains(errOut.String(), w)
		}
		if fail {
			t.Errorf("%s: exit %d, %d events printed (want %d)\nstderr: %s", tc.name, code, lines, tc.events, errOut.String())
		}
	}
}
