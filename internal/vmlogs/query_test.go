package vmlogs

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{in: "", want: time.Time{}},
		{in: "10m", want: now.Add(-10 * time.Minute)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "2026-01-02T03:04:05Z", want: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2026-01-02T03:04:05.5+02:00", want: time.Date(2026, 1, 2, 1, 4, 5, 5e8, time.UTC)},
		{in: "2026-01-02T03:04:05", want: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{in: "2026-01-02", want: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "1700000000.25", want: time.Unix(1700000000, 25e7)},
		{in: "-5m", bad: true},
		{in: "yesterday", bad: true},
		{in: "17.", bad: true},
		{in: "17.1234567890", bad: true},
	} {
		got, err := ParseTime(tc.in, now)
		if (err != nil) != tc.bad || !got.Equal(tc.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}

func TestParseTail(t *testing.T) {
	for in, want := range map[string]int{"": -1, "all": -1, "ALL": -1, "0": 0, "20": 20, "-1": -2, "x": -2} {
		got, err := ParseTail(in)
		if want == -2 {
			if err == nil {
				t.Errorf("ParseTail(%q) accepted", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseTail(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
