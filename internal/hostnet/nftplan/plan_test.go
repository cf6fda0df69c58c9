package nftplan

import (
	"net"
	"net/netip"
	"testing"
)

var mac, _ = net.ParseMAC("02:00:00:00:00:01")

func TestRuleString(t *testing.T) {
	tests := []struct {
		rule Rule
		want string
	}{
		{Rule{Match: []Match{IIF("br0"), OIF("eth*").Negate()}, Verdict: Drop{}}, `iifname "br0" oifname != "eth*" drop`},
		{Rule{Match: []Match{SAddr(netip.MustParsePrefix("10.0.0.0/8")).Negate(), DAddr(netip.MustParsePrefix("10.1.2.3/32"))}, Verdict: Accept{}}, "ip saddr != 10.0.0.0/8 ip daddr 10.1.2.3 accept"},
		{Rule{Match: []Match{CtState{"related", "new", "established"}}, Verdict: Accept{}}, "ct state established,related,new accept"},
		{Rule{Match: []Match{CtStatusDNAT{}, FibDaddrLocal{}}, Verdict: Jump{Chain: "x"}}, "ct status dnat fib daddr type local jump x"},
		{Rule{Match: []Match{ICMPEchoRequest{}}, Verdict: Masquerade{}, Comment: "banger:a"}, `icmp type echo-request masquerade comment "banger:a"`},
		{Rule{Match: []Match{Dport{Proto: "udp", Port: 53}}, Verdict: DNAT{Addr: netip.MustParseAddr("10.0.0.2"), Port: 5353}}, "udp dport 53 dnat ip to 10.0.0.2:5353"},
		{Rule{Match: []Match{IIF("bg-1"), EtherSaddr{MAC: mac}, ARPSender{MAC: mac, IP: netip.MustParseAddr("10.0.0.2")}}, Verdict: Accept{}}, `iifname "bg-1" ether saddr 02:00:00:00:00:01 arp saddr ether 02:00:00:00:00:01 arp saddr ip 10.0.0.2 accept`},
		{Rule{Match: []Match{EtherSaddr{MAC: mac}, FrameIPSaddr{IP: netip.MustParseAddr("10.0.0.2")}}, Verdict: Accept{}}, `ether saddr 02:00:00:00:00:01 ip saddr 10.0.0.2 accept`},
	}
	for _, tt := range tests {
		if got := tt.rule.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}

func TestPriorityNames(t *testing.T) {
	tests := []struct {
		hook Hook
		prio int32
		want string
	}{
		{Forward, 0, "filter"}, {Prerouting, -100, "dstnat"}, {Output, -100, "-100"},
		{Postrouting, 100, "srcnat"}, {Input, 100, "100"}, {Prerouting, -300, "raw"},
	}
	for _, tt := range tests {
		if got := priorityName(FamilyINet, tt.hook, tt.prio); got != tt.want {
			t.Errorf("priorityName(%s, %d) = %q, want %q", tt.hook, tt.prio, got, tt.want)
		}
	}
}

func TestBridgePriorityNames(t *testing.T) {
	for prio, want := range map[int32]string{-300: "dstnat", -200: "filter", 100: "out", 300: "srcnat", 0: "0"} {
		if got := priorityName(FamilyBridge, Prerouting, prio); got != want {
			t.Errorf("bridge priority %d = %q, want %q", prio, got, want)
		}
	}
	p := Plan{Family: FamilyBridge, Table: "t", Chains: []Chain{{Name: "c", Type: "filter", Hook: Prerouting, Priority: -200}}}
	if got, want := p.String(), "table bridge t {\n\tchain c {\n\t\ttype filter hook prerouting priority filter; policy accept;\n\t}\n}\n"; got != want {
		t.Errorf("bridge plan:\n%s\nwant\n%s", got, want)
	}
}

func TestComment(t *testing.T) {
	r := Rule{Comment: "banger:vm1"}
	// nft stores a comment as TLV type 0 with its NUL.
	if got := string(r.UserData()); got != "\x00\x0bbanger:vm1\x00" {
		t.Fatalf("UserData = %q", got)
	}
	if got := CommentOf(r.UserData()); got != "banger:vm1" {
		t.Fatalf("CommentOf = %q", got)
	}
	if (Rule{}).UserData() != nil || CommentOf(nil) != "" {
		t.Fatal("no comment must mean no user data")
	}
}
