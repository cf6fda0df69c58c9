package dockerapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dockerevents "github.com/moby/moby/api/types/events"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
)

// newJournal is a real journal in a fresh store, its clock fixed.
func newJournal(t *testing.T, now *time.Time) *events.Journal {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	j, err := events.Open(st, events.Options{Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(j.Close)
	return j
}

// TestEvents: the journal's kept events between since and until, in
// Docker's shape (a VM's exit is die with exitCode, its removal
// destroy, a volume's removal destroy, an image's delete; Docker's
// filters apply to that shape; events Docker has no word for are left
// out).
func TestEvents(t *testing.T) {
	now := time.Unix(1700000000, 0)
	j := newJournal(t, &now)
	vm := func(action events.Action, attrs ...string) events.Event {
		e := events.Event{Type: events.TypeVM, Action: action, ID: "abc000000001", Name: "web",
			Attributes: map[string]string{"image": "alpine", "tier": "front"}}
		for i := 0; i+1 < len(attrs); i += 2 {
			e.Attributes[attrs[i]] = attrs[i+1]
		}
		return e
	}
	for _, e := range []events.Event{
		vm(events.Create), vm(events.Start),
		{Type: events.TypeVM, Action: events.Create, ID: "abc000000002", Name: "db", Attributes: map[string]string{"image": "postgres"}},
		vm(events.Kill, events.AttrSignal, "TERM"),
		vm(events.Exit, events.AttrExitCode, "143", events.AttrOOM, "false", events.AttrState, "exited"),
		{Type: events.TypeCheckpoint, Action: events.Create, ID: "ck1"},
		{Type: events.TypeDaemon, Action: events.Ready, ID: "1"},
		{Type: events.TypeImage, Action: events.Pull, ID: "img1", Name: "docker.io/library/alpine:latest"},
		{Type: events.TypeVolume, Action: events.Create, ID: "data", Name: "data"},
		vm(events.Rename, events.AttrOldName, "old"),
		vm(events.Remove), {Type: events.TypeVolume, Action: events.Remove, ID: "data", Name: "data"},
	} {
		now = now.Add(time.Second)
		j.Publish(e)
	}
	e := newOpsEnv(t)
	e.journal = j
	e.build(t)
	since := fmt.Sprint(time.Unix(1700000000, 0).Unix())
	until := fmt.Sprintf("%d.%09d", now.Unix(), 0)
	stream := func(filters string) []dockerevents.Message {
		q := url.Values{"since": {since}, "until": {until}}
		if filters != "" {
			q.Set("filters", filters)
		}
		rec := do(e.s, "GET", "/v1.41/events?"+q.Encode(), "")
		if rec.Code != 200 {
			t.Fatalf("events %s: %d %s", filters, rec.Code, rec.Body)
		}
		var out []dockerevents.Message
		sc := bufio.NewScanner(rec.Body)
		for sc.Scan() {
			var m dockerevents.Message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("event line %q: %v", sc.Text(), err)
			}
			out = append(out, m)
		}
		return out
	}
	line := func(ms []dockerevents.Message) string {
		var parts []string
		for _, m := range ms {
			parts = append(parts, string(m.Type)+":"+string(m.Action))
		}
		return strings.Join(parts, " ")
	}
	all := stream("")
	if got, want := line(all), "container:create container:start container:create container:kill container:die image:pull volume:create container:rename container:destroy volume:destroy"; got != want {
		t.Errorf("events:\n got %s\nwant %s", got, want)
	}
	die := all[4]
	if die.Actor.ID != containerID("abc000000001") || die.Actor.Attributes["exitCode"] != "143" || die.Actor.Attributes["name"] != "web" ||
		die.Actor.Attributes["tier"] != "front" || die.Actor.Attributes["oom"] != "" || die.Time != 1700000005 || die.TimeNano != die.Time*1e9 {
		t.Errorf("die: %+v", die)
	}
	if all[3].Actor.Attributes["signal"] != "TERM" || all[7].Actor.Attributes["oldName"] != "/old" || all[5].Actor.ID != "docker.io/library/alpine:latest" {
		t.Errorf("kill, rename, pull: %+v %+v %+v", all[3], all[7], all[5])
	}
	for filters, want := range map[string]string{
		`{"type":["container"],"event":["die","destroy"]}`:           "container:die container:destroy",
		`{"container":["db"]}`:                                       "container:create",
		`{"container":["` + containerID("abc000000002")[:20] + `"]}`: "container:create",
		`{"label":{"tier=front":true},"event":{"start":true}}`:       "container:start",
		`{"image":["alpine"],"type":["image"]}`:                      "image:pull",
		`{"image":["alpine"],"event":["create"]}`:                    "container:create",
		`{"image":["alpine:latest"],"event":["create"]}`:             "container:create",
		`{"image":["docker.io/library/alpine"],"type":["image"]}`:    "image:pull",
		`{"image":["library/postgres:latest"],"event":["create"]}`:   "container:create",
		`{"volume":["data"]}`:                                        "volume:create volume:destroy",
		`{"network":["bridge"]}`:                                     "",
	} {
		if got := line(stream(filters)); got != want {
			t.Errorf("events %s: %q, want %q", filters, got, want)
		}
	}
	for _, q := range []string{"since=yesterday", "until=1.2.3", "filters=" + url.QueryEscape(`{"colour":["red"]}`)} {
		if rec := do(e.s, "GET", "/events?"+q, ""); rec.Code != 400 {
			t.Errorf("events?%s: %d %s, want 400", q, rec.Code, rec.Body)
		}
	}
}
