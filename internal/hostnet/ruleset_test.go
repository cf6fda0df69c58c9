package hostnet

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/hostnet/nftplan"
)

func testParams() rulesetParams {
	return rulesetParams{
		Table: "banger", Bridge: "banger0",
		Subnet: netip.MustParsePrefix("10.213.0.0/20"), Gateway: netip.MustParseAddr("10.213.0.1"),
		IsolateVMs: true,
	}
}

const wantBase = `table inet banger {
	chain forward {
		type filter hook forward priority filter; policy accept;
		oifname "banger0" ct state established,related accept
		iifname "banger0" oifname "banger0" drop
		oifname "banger0" ct status dnat accept
		iifname != "banger0" oifname "banger0" drop
	}

	chain input {
		type filter hook input priority filter; policy accept;
		iifname "banger0" ct state established,related accept
		iifname "banger0" ip daddr 10.213.0.1 icmp type echo-request accept
		iifname "banger0" drop
	}

	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local ip daddr != 127.0.0.0/8 jump published
	}

	chain output {
		type nat hook output priority -100; policy accept;
		fib daddr type local jump published
	}

	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr 10.213.0.0/20 oifname != "banger0" masquerade
		oifname "banger0" ip saddr 127.0.0.0/8 masquerade
	}

	chain published {
	}
}
`

func TestBasePlan(t *testing.T) {
	if got := basePlan(testParams()).String(); got != wantBase {
		t.Fatalf("base plan:\n%s\nwant:\n%s", got, wantBase)
	}
}

// Variants differ from the default plan in exactly the lines named.
func TestBasePlanVariants(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*rulesetParams)
		removed []string
		added   []string
	}{
		{
			name:    "vm traffic allowed",
			change:  func(p *rulesetParams) { p.IsolateVMs = false },
			removed: []string{`iifname "banger0" oifname "banger0" drop`},
		},
		{
			name:   "dns forwarder",
			change: func(p *rulesetParams) { p.DNSForwarder = true },
			added: []string{
				`iifname "banger0" ip daddr 10.213.0.1 udp dport 53 accept`,
				`iifname "banger0" ip daddr 10.213.0.1 tcp dport 53 accept`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testParams()
			tt.change(&p)
			got := lineSet(basePlan(p).String())
			want := lineSet(wantBase)
			for _, l := range tt.removed {
				delete(want, l)
			}
			for _, l := range tt.added {
				want[l] = true
			}
			for l := range want {
				if !got[l] {
					t.Errorf("missing %q", l)
				}
			}
			for l := range got {
				if !want[l] {
					t.Errorf("unexpected %q", l)
				}
			}
		})
	}
}

func lineSet(s string) map[string]bool {
	m := map[string]bool{}
	for l := range strings.SplitSeq(s, "\n") {
		m[strings.TrimSpace(l)] = true
	}
	return m
}

// The DNS accepts must come before the final drop of the input chain.
func TestBasePlanOrderDNSBeforeDrop(t *testing.T) {
	p := testParams()
	p.DNSForwarder = true
	s := basePlan(p).String()
	if strings.Index(s, "udp dport 53 accept") > strings.Index(s, `iifname "banger0" drop`) {
		t.Fatalf("dns accept after the drop:\n%s", s)
	}
}

func TestPortRules(t *testing.T) {
	ports := []Port{
		{HostPort: 8080, GuestPort: 80, Protocol: "tcp"},
		{HostIP: "127.0.0.1", HostPort: 5353, GuestPort: 53, Protocol: "udp"},
	}
	rules := portRules("vm1", netip.MustParseAddr("10.213.0.7"), ports)
	got := nftplan.Plan{Table: "banger", Chains: []nftplan.Chain{{Name: chainPublished}}, Rules: rules}.String()
	want := `table inet banger {
	chain published {
		tcp dport 8080 dnat ip to 10.213.0.7:80 comment "banger:vm1"
		ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.213.0.7:53 comment "banger:vm1"
	}
}
`
	if got != want {
		t.Fatalf("port rules:\n%s\nwant:\n%s", got, want)
	}
	if len(portRules("vm1", netip.MustParseAddr("10.213.0.7"), nil)) != 0 {
		t.Fatal("no ports must give no rules")
	}
}
