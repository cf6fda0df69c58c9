package nftplan

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Exprs returns the rule's netlink expressions: each match loads into and
// compares register 1, as nft does, then the verdict.
func (r Rule) Exprs() []expr.Any {
	var out []expr.Any
	for _, m := range r.Match {
		out = append(out, matchExprs(m)...)
	}
	return append(out, verdictExprs(r.Verdict)...)
}

const reg = 1

func cmpOp(not bool) expr.CmpOp {
	if not {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

func matchExprs(m Match) []expr.Any {
	switch m := m.(type) {
	case IfName:
		key := expr.MetaKeyIIFNAME
		if m.Out {
			key = expr.MetaKeyOIFNAME
		}
		data := make([]byte, unix.IFNAMSIZ) // an exact name compares with its NUL padding
		copy(data, m.Name)
		if prefix, ok := strings.CutSuffix(m.Name, "*"); ok {
			data = []byte(prefix) // a wildcard compares only the prefix bytes
		}
		return []expr.Any{
			&expr.Meta{Key: key, Register: reg},
			&expr.Cmp{Op: cmpOp(m.Not), Register: reg, Data: data},
		}
	case Addr:
		offset := uint32(12) // saddr in the IPv4 header
		if m.Dst {
			offset = 16
		}
		out := []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{unix.NFPROTO_IPV4}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		}
		if !m.Prefix.IsSingleIP() {
			mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-m.Prefix.Bits()))
			out = append(out, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: mask, Xor: make([]byte, 4)})
		}
		a := m.Prefix.Masked().Addr().As4()
		return append(out, &expr.Cmp{Op: cmpOp(m.Not), Register: reg, Data: a[:]})
	case CtState:
		return ctBits(expr.CtKeySTATE, m.mask())
	case CtStatusDNAT:
		return ctBits(expr.CtKeySTATUS, 0x20) // IPS_DST_NAT
	case FibDaddrLocal:
		return []expr.Any{
			&expr.Fib{Register: reg, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		}
	case Dport:
		proto := byte(unix.IPPROTO_TCP)
		if m.Proto == "udp" {
			proto = unix.IPPROTO_UDP
		}
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{proto}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(m.Port)},
		}
	case EtherSaddr:
		return []expr.Any{
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte(m.MAC)},
		}
	case ARPSender:
		ip := m.IP.As4()
		return []expr.Any{
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseLLHeader, Offset: 12, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_ARP)},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 6},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte(m.MAC)},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: ip[:]},
		}
	case FrameIPSaddr:
		ip := m.IP.As4()
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: binaryutil.BigEndian.PutUint16(unix.ETH_P_IP)},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: ip[:]},
		}
	case ICMPEchoRequest:
		return []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{unix.IPPROTO_ICMP}},
			&expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: []byte{8}}, // ICMP_ECHO
		}
	}
	panic(fmt.Sprintf("nftplan: no expressions for match %T", m))
}

func ctBits(key expr.CtKey, mask uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg, Key: key},
		&expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(mask), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg, Data: make([]byte, 4)},
	}
}

func verdictExprs(v Verdict) []expr.Any {
	switch v := v.(type) {
	case Accept:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}
	case Drop:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictDrop}}
	case Jump:
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: v.Chain}}
	case Masquerade:
		return []expr.Any{&expr.Masq{}}
	case DNAT:
		a := v.Addr.As4()
		return []expr.Any{
			&expr.Immediate{Register: 1, Data: a[:]},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(v.Port)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}
	}
	panic(fmt.Sprintf("nftplan: no expressions for verdict %T", v))
}
