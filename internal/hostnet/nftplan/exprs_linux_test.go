package nftplan

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
)

// The expressions of a published-port rule, byte for byte what
// `nft --debug=netlink` shows nft itself generating for
// `ip daddr 127.0.0.1 tcp dport 8080 dnat ip to 10.213.0.2:80`.
func TestExprsMatchNft(t *testing.T) {
	r := Rule{
		Match:   []Match{DAddr(netip.MustParsePrefix("127.0.0.1/32")), Dport{Proto: "tcp", Port: 8080}},
		Verdict: DNAT{Addr: netip.MustParseAddr("10.213.0.2"), Port: 80},
	}
	want := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{2}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{127, 0, 0, 1}},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0x1f, 0x90}},
		&expr.Immediate{Register: 1, Data: []byte{10, 213, 0, 2}},
		&expr.Immediate{Register: 2, Data: []byte{0, 80}},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: 2, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
	if got := r.Exprs(); fmt.Sprintf("%+v", deref(got)) != fmt.Sprintf("%+v", deref(want)) {
		t.Fatalf("exprs:\n%+v\nwant:\n%+v", deref(got), deref(want))
	}
}

// Every match and verdict has expressions (the type switches are closed).
func TestExprsCoverEveryType(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	ip := netip.MustParseAddr("10.0.0.2")
	matches := []Match{IIF("a"), OIF("b*"), SAddr(netip.MustParsePrefix("10.0.0.0/20")), CtState{"new"}, CtStatusDNAT{}, FibDaddrLocal{}, Dport{Proto: "udp", Port: 1}, ICMPEchoRequest{},
		EtherSaddr{MAC: mac}, ARPSender{MAC: mac, IP: ip}, FrameIPSaddr{IP: ip}}
	verdicts := []Verdict{Accept{}, Drop{}, Jump{Chain: "c"}, Masquerade{}, DNAT{Addr: netip.MustParseAddr("10.0.0.1"), Port: 1}}
	for _, m := range matches {
		if len(matchExprs(m)) == 0 {
			t.Errorf("%T: no expressions", m)
		}
	}
	for _, v := range verdicts {
		if len(verdictExprs(v)) == 0 {
			t.Errorf("%T: no expressions", v)
		}
	}
	// A prefix is masked before the compare; a wildcard compares only
	// its prefix bytes.
	pfx := matchExprs(SAddr(netip.MustParsePrefix("10.213.0.0/20")))
	if bw, ok := pfx[3].(*expr.Bitwise); !ok || string(bw.Mask) != "\xff\xff\xf0\x00" {
		t.Errorf("prefix mask: %+v", pfx[3])
	}
	if c := matchExprs(OIF("bg-*"))[1].(*expr.Cmp); string(c.Data) != "bg-" {
		t.Errorf("wildcard compares %q", c.Data)
	}
	if c := matchExprs(OIF("bg-1"))[1].(*expr.Cmp); len(c.Data) != 16 {
		t.Errorf("exact name compares %d bytes, want IFNAMSIZ", len(c.Data))
	}
}

func deref(es []expr.Any) []any {
	out := make([]any, len(es))
	for i, e := range es {
		out[i] = fmt.Sprintf("%T%+v", e, e)
	}
	return out
}
