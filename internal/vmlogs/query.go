package vmlogs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a --since or --until value as docker does: a duration
// before now ("10m", "1h30m"), an RFC 3339 time, a date and time without
// a zone (UTC), a date, or Unix seconds (with an optional fraction).
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("%q: a duration counts back from now and must not be negative", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if t, ok := parseUnix(s); ok {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a duration (10m), an RFC 3339 time (2006-01-02T15:04:05Z), a date or Unix seconds", s)
}

// ParseTail reads --tail: a number of lines, or "all" (-1).
func ParseTail(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "all") {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q: want a number of lines or \"all\"", s)
	}
	return n, nil
}

// parseUnix reads Unix seconds with an optional fraction ("1700000000.5").
func parseUnix(s string) (time.Time, bool) {
	sec, frac, dot := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, false
	}
	var ns int64
	if dot {
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, false
		}
		if ns, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil || ns < 0 {
			return time.Time{}, false
		}
	}
	return time.Unix(n, ns), true
}
