package events

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestFilterMatch(t *testing.T) {
	web := Event{Type: TypeVM, Action: Start, ID: "0123abcd", Name: "web", Attributes: map[string]string{"tier": "front", AttrImage: "debian:bookworm"}}
	exit := Event{Type: TypeVM, Action: Exit, ID: "4567beef", Name: "db", Attributes: map[string]string{AttrExitCode: "3"}}
	pull := Event{Type: TypeImage, Action: Pull, ID: "sha256:1", Name: "debian:bookworm"}
	vol := Event{Type: TypeVolume, Action: Create, ID: "data", Name: "data"}
	nw := Event{Type: TypeNetwork, Action: Create, ID: "89abcdef0123", Name: "app"}
	all := []Event{web, exit, pull, vol, nw}
	for _, tc := range []struct {
		filters []string
		want    []Event
	}{
		{nil, all},
		{[]string{"type=vm"}, []Event{web, exit}},
		{[]string{"type=vm", "type=image"}, []Event{web, exit, pull}},
		{[]string{"action=exit"}, []Event{exit}},
		{[]string{"event=start", "event=pull"}, []Event{web, pull}},
		{[]string{"type=vm", "action=pull"}, nil},
		{[]string{"vm=web"}, []Event{web}},
		{[]string{"vm=0123abcd"}, []Event{web}},
		{[]string{"vm=456"}, []Event{exit}},
		{[]string{"vm=45"}, nil}, // a prefix needs 3 characters
		{[]string{"vm=web", "vm=db"}, []Event{web, exit}},
		{[]string{"vm=debian:bookworm"}, nil}, // an image's name is not a VM's
		{[]string{"image=debian:bookworm"}, []Event{pull}},
		{[]string{"volume=data"}, []Event{vol}},
		{[]string{"network=app"}, []Event{nw}},
		{[]string{"network=89abc"}, []Event{nw}},
		{[]string{"network=data"}, nil}, // a volume's name is not a network's
		{[]string{"type=network"}, []Event{nw}},
		{[]string{"label=tier"}, []Event{web}},
		{[]string{"label=tier=front"}, []Event{web}},
		{[]string{"label=tier=back"}, nil},
		{[]string{"label=tier", "label=exit_code"}, nil}, // labels must all hold
		{[]string{"label=exit_code=3", "type=vm"}, []Event{exit}},
	} {
		f, err := ParseFilter(tc.filters)
		if err != nil {
			t.Fatalf("%v: %v", tc.filters, err)
		}
		var got []Event
		for _, e := range all {
			if f.Match(e) {
				got = append(got, e)
			}
		}
		if !slices.EqualFunc(got, tc.want, func(a, b Event) bool { return a.ID == b.ID }) {
			t.Errorf("%v matched %v, want %v", tc.filters, names(got), names(tc.want))
		}
		back, err := ParseFilter(f.Args())
		if err != nil || !slices.Equal(back.Args(), f.Args()) {
			t.Errorf("%v: Args round trip %v, %v", tc.filters, back.Args(), err)
		}
	}
}

func names(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name)
	}
	return out
}

func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct{ arg, says string }{
		{"type", "want KEY=VALUE"},
		{"type=", "want KEY=VALUE"},
		{"type=container", "unknown type; want one of vm, image"},
		{"action=die", "unknown action; want one of create"},
		{"container=web", `unknown key "container"`},
	} {
		_, err := ParseFilter([]string{tc.arg})
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%q: %v, want invalid saying %q", tc.arg, err, tc.says)
		}
	}
}

func TestParseBound(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want Bound
	}{
		{"", Bound{}},
		{"0", SeqBound(0)},
		{"42", SeqBound(42)},
		{"2026-05-01T10:00:00Z", TimeBound(now.Add(-2 * time.Hour))},
		{"2026-05-01T12:00:00.5+02:00", TimeBound(time.Date(2026, 5, 1, 10, 0, 0, 5e8, time.UTC))},
		{"10m", TimeBound(now.Add(-10 * time.Minute))},
		{"1h30m", TimeBound(now.Add(-90 * time.Minute))},
	} {
		got, err := ParseBound(tc.in, now)
		if err != nil || got.IsZero() != tc.want.IsZero() || got.Seq != tc.want.Seq || !got.Time.Equal(tc.want.Time) {
			t.Errorf("%q = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"-1", "-10m", "yesterday", "2026-05-01", "1e3"} {
		if _, err := ParseBound(bad, now); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "want a sequence number") {
			t.Errorf("%q: %v, want invalid", bad, err)
		}
	}
}

// FuzzParse: no --filter or --since a user types makes the parsers panic,
// and what they accept round-trips.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"type=vm", "label=a=b", "vm=web", "10m", "42", "2026-05-01T10:00:00Z", "=", "label==", "event=exit"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if flt, err := ParseFilter([]string{s}); err == nil {
			back, err := ParseFilter(flt.Args())
			if err != nil || !slices.Equal(back.Args(), flt.Args()) {
				t.Fatalf("%q: round trip %v, %v", s, back.Args(), err)
			}
			_ = flt.Match(Event{Type: TypeVM, Attributes: map[string]string{s: s}})
		}
		if b, err := ParseBound(s, time.Now()); err == nil && s != "" && b.IsZero() {
			t.Fatalf("%q parsed to no bound", s)
		}
	})
}
