package api

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestReadEvents: the lines reach fn in order and the end says where to
// resume: the end line's own, or, when the stream breaks off or fn fails,
// the last event fn took (so a resume repeats none and skips none).
func TestReadEvents(t *testing.T) {
	const (
		e1   = `{"event":{"seq":1,"time":"2026-05-01T10:00:00Z","type":"vm","action":"create","name":"web"}}` + "\n"
		lost = `{"lost":{"from":2,"to":4,"retain":1}}` + "\n"
		e5   = `{"event":{"seq":5,"time":"2026-05-01T10:00:01Z","type":"vm","action":"start","name":"web"}}` + "\n"
	)
	failAt5 := errors.New("stdout closed")
	for _, tc := range []struct {
		name, stream string
		fail         error // fn fails on event 5 with it
		seen         string
		end          uint64
		err          func(error) bool
	}{
		{"until", e1 + lost + e5 + `{"end":{"seq":9}}` + "\n", nil, "1 lost 5", 9, func(err error) bool { return err == nil }},
		{"a line of an unknown kind", e1 + `{"heartbeat":{}}` + "\n" + `{}` + "\n" + e5 + `{"end":{"seq":5}}` + "\n", nil, "1 5", 5, func(err error) bool { return err == nil }},
		{"ended by the daemon", e1 + `{"end":{"seq":3,"error":{"kind":"unavailable","message":"the reader fell too far behind the events"}}}` + "\n", nil, "1", 3,
			func(err error) bool {
				var ae *Error
				return errors.As(err, &ae) && errors.Is(err, errdefs.ErrUnavailable) && strings.Contains(err.Error(), "fell too far behind")
			}},
		{"broken off", e1 + lost + e5 + `{"event":{"se`, nil, "1 lost 5", 5,
			func(err error) bool {
				return errors.Is(err, errdefs.ErrUnavailable) && strings.Contains(err.Error(), "broke off")
			}},
		{"broken off at a line's end", e1 + e5, nil, "1 5", 5,
			func(err error) bool { return errors.Is(err, errdefs.ErrUnavailable) }},
		{"broken off before any event", "", nil, "", 0,
			func(err error) bool { return errors.Is(err, errdefs.ErrUnavailable) }},
		{"not an event", e1 + "garbage\n" + e5, nil, "1", 1,
			func(err error) bool {
				return err != nil && !errors.Is(err, errdefs.ErrUnavailable) && strings.Contains(err.Error(), "decode")
			}},
		{"fn fails", e1 + e5 + `{"end":{"seq":9}}` + "\n", failAt5, "1", 1,
			func(err error) bool { return errors.Is(err, failAt5) }},
	} {
		var seen []string
		end, err := ReadEvents(strings.NewReader(tc.stream), func(l EventsLine) error {
			switch {
			case l.Lost != nil:
				seen = append(seen, "lost")
			case l.Event.Seq == 5 && tc.fail != nil:
				return tc.fail
			default:
				seen = append(seen, strconv.FormatUint(l.Event.Seq, 10))
			}
			return nil
		})
		if got := strings.Join(seen, " "); got != tc.seen || end.Seq != tc.end || !tc.err(err) {
			t.Errorf("%s: saw %q, end %d, err %v; want %q, end %d", tc.name, got, end.Seq, err, tc.seen, tc.end)
		}
	}
}
