package vms

import (
	"errors"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestCheckDNS(t *testing.T) {
	for _, tt := range []struct {
		name    string
		dns     DNS
		network string
		want    string // "" = accepted
	}{
		{"none", DNS{}, NetworkNone, ""},
		{"servers", DNS{Servers: []string{"10.96.0.10", "fd00::53", "1.1.1.1"}}, "", ""},
		{"search and options", DNS{Search: []string{"default.svc.cluster.local", "svc.cluster.local", "corp."}, Options: []string{"ndots:5", "edns0", "single-request-reopen"}}, "", ""},
		{"netns", DNS{Servers: []string{"10.96.0.10"}}, "netns:/var/run/netns/pod", ""},
		{"no network", DNS{Servers: []string{"10.96.0.10"}}, NetworkNone, "need a network"},
		{"four servers", DNS{Servers: []string{"1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"}}, "", "at most 3"},
		{"a name, not an address", DNS{Servers: []string{"dns.example"}}, "", `--dns "dns.example": want an IP address`},
		{"search with a space", DNS{Search: []string{"a b"}}, "", `--dns-search "a b"`},
		{"search injecting a line", DNS{Search: []string{"lan\nnameserver 6.6.6.6"}}, "", "--dns-search"},
		{"option with a space", DNS{Options: []string{"ndots: 2"}}, "", `--dns-option "ndots: 2"`},
		{"option injecting a line", DNS{Options: []string{"edns0\nnameserver 6.6.6.6"}}, "", "--dns-option"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDNS(tt.dns, tt.network)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err %v, want an invalid-argument error saying %q", err, tt.want)
			}
		})
	}
}
