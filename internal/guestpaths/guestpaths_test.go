package guestpaths

import "testing"

func TestUnder(t *testing.T) {
	tests := []struct {
		p    string
		want bool
	}{
		{"/.banger", true},
		{"/.banger/agent", true},
		{"/.bangerx", false},
		{"/etc/hostname", true},
		{"/etc/hostname.d/x", false},
		{"/etc/hostnamex", false},
		{"/etc/resolv.conf", true},
		{"/etc", false},
		{"/", false},
	}
	for _, tc := range tests {
		if got := Under(tc.p, Owned()); got != tc.want {
			t.Errorf("Under(%q) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !Under("/var/cache/apt/x", []string{"/var/cache/apt/"}) {
		t.Error("a trailing slash in the list should still match below it")
	}
}
