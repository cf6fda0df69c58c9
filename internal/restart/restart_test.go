package restart

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Policy
		err  bool
	}{
		{"", Policy{Mode: No}, false},
		{"no", Policy{Mode: No}, false},
		{"always", Policy{Mode: Always}, false},
		{"unless-stopped", Policy{Mode: UnlessStopped}, false},
		{"on-failure", Policy{Mode: OnFailure}, false},
		{"on-failure:2", Policy{Mode: OnFailure, MaxRetries: 2}, false},
		{"on-failure:0", Policy{Mode: OnFailure}, false},
		{"on-failure:-1", Policy{}, true},
		{"on-failure:x", Policy{}, true},
		{"on-failure:", Policy{}, true},
		{"always:3", Policy{}, true},
		{"no:1", Policy{}, true},
		{"sometimes", Policy{}, true},
		{"Always", Policy{}, true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q): error %v is not ErrInvalid", tc.in, err)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Policy
		ok bool
	}{
		{Policy{}, true},
		{Policy{Mode: Always}, true},
		{Policy{Mode: OnFailure, MaxRetries: 3}, true},
		{Policy{Mode: OnFailure, MaxRetries: -1}, false},
		{Policy{Mode: Always, MaxRetries: 3}, false},
		{Policy{Mode: "sometimes"}, false},
		{Policy{Mode: "on-failure:3"}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v", tc.p, err)
		}
	}
}

func TestStringRoundTrips(t *testing.T) {
	for _, s := range []string{"no", "always", "unless-stopped", "on-failure", "on-failure:5"} {
		p, err := Parse(s)
		if err != nil || p.String() != s {
			t.Errorf("Parse(%q).String() = %q, %v", s, p.String(), err)
		}
	}
	if got := (Policy{}).String(); got != "no" {
		t.Errorf("zero policy prints %q", got)
	}
}

func TestShouldRestart(t *testing.T) {
	onFailure2 := Policy{Mode: OnFailure, MaxRetries: 2}
	for _, tc := range []struct {
		name string
		p    Policy
		e    Exit
		want bool
	}{
		{"no, failed", Policy{}, Exit{Failed: true}, false},
		{"no (explicit), failed", Policy{Mode: No}, Exit{Failed: true}, false},
		{"always, exit 0", Policy{Mode: Always}, Exit{}, true},
		{"always, failed, many restarts", Policy{Mode: Always}, Exit{Failed: true, Count: 1000}, true},
		{"always, stopped by the user", Policy{Mode: Always}, Exit{Canceled: true, ManuallyStopped: true}, false},
		{"always, manually stopped, at daemon start", Policy{Mode: Always}, Exit{ManuallyStopped: true}, true},
		{"always, killed with another signal", Policy{Mode: Always}, Exit{Failed: true, ManuallyStopped: true}, true},
		{"unless-stopped, exit 0", Policy{Mode: UnlessStopped}, Exit{}, true},
		{"unless-stopped, manually stopped, at daemon start", Policy{Mode: UnlessStopped}, Exit{ManuallyStopped: true}, false},
		{"unless-stopped, stopped", Policy{Mode: UnlessStopped}, Exit{Canceled: true}, false},
		{"on-failure, exit 0", onFailure2, Exit{}, false},
		{"on-failure, first failure", onFailure2, Exit{Failed: true}, true},
		{"on-failure, second failure", onFailure2, Exit{Failed: true, Count: 1}, true},
		{"on-failure, third failure: MAX reached", onFailure2, Exit{Failed: true, Count: 2}, false},
		{"on-failure, no MAX", Policy{Mode: OnFailure}, Exit{Failed: true, Count: 50}, true},
		{"on-failure, manually stopped", onFailure2, Exit{Failed: true, ManuallyStopped: true}, false},
		{"on-failure, canceled", onFailure2, Exit{Failed: true, Canceled: true}, false},
	} {
		if got := ShouldRestart(tc.p, tc.e); got != tc.want {
			t.Errorf("%s: ShouldRestart(%+v, %+v) = %v", tc.name, tc.p, tc.e, got)
		}
	}
}

func TestNextDelay(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		prev, ran, want time.Duration
	}{
		{0, 0, 100 * ms},
		{100 * ms, time.Second, 200 * ms},
		{200 * ms, time.Second, 400 * ms},
		{40 * time.Second, time.Second, time.Minute},
		{time.Minute, time.Second, time.Minute},
		{time.Minute, 10 * time.Second, 100 * ms},
		{800 * ms, time.Hour, 100 * ms},
	} {
		if got := NextDelay(tc.prev, tc.ran); got != tc.want {
			t.Errorf("NextDelay(%v, %v) = %v, want %v", tc.prev, tc.ran, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"no", "always", "on-failure:3", "unless-stopped", "on-failure:", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(p.String())
		if err != nil || back != p {
			t.Fatalf("Parse(%q) = %+v does not round-trip: %+v, %v", s, p, back, err)
		}
	})
}
