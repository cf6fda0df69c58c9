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

func TestResolvTarget(t *testing.T) {
	tests := []struct {
		link    string
		exists  bool
		path    string
		replace bool
	}{
		{"", false, "/etc/resolv.conf", false},
		{"../run/systemd/resolve/stub-resolv.conf", false, "/run/systemd/resolve/stub-resolv.conf", false},
		{"/run/resolvconf/resolv.conf", false, "/run/resolvconf/resolv.conf", false},
		{"resolv.conf.real", true, "/etc/resolv.conf.real", false},
		{"/usr/lib/gone/resolv.conf", false, "/etc/resolv.conf", true},
		{"../run/../etc/../nowhere", false, "/etc/resolv.conf", true},
	}
	for _, tt := range tests {
		p, r := ResolvTarget(tt.link, tt.exists)
		if p != tt.path || r != tt.replace {
			t.Errorf("ResolvTarget(%q, %v) = %q, %v; want %q, %v", tt.link, tt.exists, p, r, tt.path, tt.replace)
		}
	}
}
