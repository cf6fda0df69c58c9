package hostnet

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want Port
		err  string
	}{
		{in: "8080:80", want: Port{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}},
		{in: "8080:80/tcp", want: Port{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}},
		{in: "5353:53/UDP", want: Port{HostPort: 5353, GuestPort: 53, Protocol: "udp"}},
		{in: "127.0.0.1:8080:80", want: Port{HostIP: "127.0.0.1", HostPort: 8080, GuestPort: 80, Protocol: "tcp"}},
		{in: "0.0.0.0:1:65535/udp", want: Port{HostPort: 1, GuestPort: 65535, Protocol: "udp"}},
		{in: "80", want: Port{GuestPort: 80, Protocol: "tcp"}},
		{in: "53/udp", want: Port{GuestPort: 53, Protocol: "udp"}},
		{in: "127.0.0.1::80", want: Port{HostIP: "127.0.0.1", GuestPort: 80, Protocol: "tcp"}},
		{in: "0.0.0.0::80", want: Port{GuestPort: 80, Protocol: "tcp"}},
		{in: "", err: "need a guest port"},
		{in: ":80", err: "empty host port"},
		{in: "1:2:3:4", err: "need a host port and a guest port"},
		{in: "0:80", want: Port{GuestPort: 80, Protocol: "tcp"}},
		{in: "00:80", err: "host port: 0 is out of range"},
		{in: "80:65536", err: "guest port: 65536 is out of range"},
		{in: "80:+1", err: `guest port: "+1" is not a number`},
		{in: "80:", err: `guest port: "" is not a number`},
		{in: "8000-8010:80", err: `host port: "8000-8010" is not a number`},
		{in: "80:80/sctp", err: "protocol must be tcp or udp"},
		{in: "80:80/", err: "protocol must be tcp or udp"},
		{in: "localhost:80:80", err: `host address "localhost" is not an IPv4 address`},
		{in: "::1:80:80", err: "need a host port and a guest port"},
		{in: "[::1]:80:80", err: "IPv6 host addresses are not supported"},
		{in: "1.2.3:80:80", err: "is not an IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePort(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("ParsePort(%q) = %+v, %v; want ErrInvalid mentioning %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParsePort(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizePorts(t *testing.T) {
	got, err := normalizePorts([]Port{{HostIP: "0.0.0.0", HostPort: 80, GuestPort: 8080}})
	if err != nil || len(got) != 1 || got[0] != (Port{HostPort: 80, GuestPort: 8080, Protocol: "tcp"}) {
		t.Fatalf("normalize = %+v, %v", got, err)
	}
	clash := []struct {
		a, b  Port
		clash bool
	}{
		{Port{HostPort: 80, GuestPort: 1, Protocol: "tcp"}, Port{HostPort: 80, GuestPort: 2, Protocol: "tcp"}, true},
		{Port{HostPort: 80, GuestPort: 1, Protocol: "tcp"}, Port{HostPort: 80, GuestPort: 2, Protocol: "udp"}, false},
		{Port{HostIP: "127.0.0.1", HostPort: 80, GuestPort: 1, Protocol: "tcp"}, Port{HostPort: 80, GuestPort: 2, Protocol: "tcp"}, true},
		{Port{HostIP: "127.0.0.1", HostPort: 80, GuestPort: 1, Protocol: "tcp"}, Port{HostIP: "127.0.0.2", HostPort: 80, GuestPort: 2, Protocol: "tcp"}, false},
		// Host ports yet to be picked claim nothing.
		{Port{GuestPort: 1, Protocol: "tcp"}, Port{GuestPort: 2, Protocol: "tcp"}, false},
	}
	for _, c := range clash {
		_, err := normalizePorts([]Port{c.a, c.b})
		if (err != nil) != c.clash {
			t.Errorf("%s + %s: err = %v, want clash=%v", FormatPort(c.a), FormatPort(c.b), err, c.clash)
		}
	}
	if _, err := normalizePorts([]Port{{HostPort: 70000, GuestPort: 1}}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("out-of-range port from the API: %v", err)
	}
}

// FuzzParsePort: whatever the input, ParsePort either refuses it with
// ErrInvalid or returns a mapping that is valid and survives a round trip
// through FormatPort.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"8080:80", "127.0.0.1:53:53/udp", "0.0.0.0:1:1/TCP", "[::1]:1:1", "1:2:3:4", "65535:65535/udp", "08080:0080", "80", "127.0.0.1::80/udp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParsePort(s)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("ParsePort(%q): error without ErrInvalid: %v", s, err)
			}
			return
		}
		if m.HostPort < 0 || m.HostPort > 65535 || m.GuestPort < 1 || m.GuestPort > 65535 {
			t.Fatalf("ParsePort(%q) = %+v: port out of range", s, m)
		}
		if m.Protocol != "tcp" && m.Protocol != "udp" {
			t.Fatalf("ParsePort(%q) = %+v: protocol", s, m)
		}
		if m.HostIP != "" {
			ip, err := netip.ParseAddr(m.HostIP)
			if err != nil || !ip.Is4() || ip.IsUnspecified() {
				t.Fatalf("ParsePort(%q) = %+v: host ip", s, m)
			}
		}
		again, err := ParsePort(FormatPort(m))
		if err != nil || again != m {
			t.Fatalf("round trip of %q: %+v -> %q -> %+v, %v", s, m, FormatPort(m), again, err)
		}
	})
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeBridge, "bridge": ModeBridge, "none": ModeNone} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("host"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("ParseMode(host) = %v", err)
	}
}
