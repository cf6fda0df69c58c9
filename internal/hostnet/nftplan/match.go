package nftplan

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Match is one condition of a rule. String is the condition as nft prints
// it; the netlink expressions live in exprs_linux.go.
type Match interface{ String() string }

func notOp(not bool) string {
	if not {
		return "!= "
	}
	return ""
}

// IfName matches the input (iifname) or output (oifname) interface name. A
// trailing "*" matches a prefix, as in nft.
type IfName struct {
	Out  bool
	Not  bool
	Name string
}

// IIF matches packets that arrived on the interface name.
func IIF(name string) IfName { return IfName{Name: name} }

// OIF matches packets leaving through the interface name.
func OIF(name string) IfName { return IfName{Out: true, Name: name} }

// Negate returns the match inverted.
func (m IfName) Negate() IfName { m.Not = !m.Not; return m }

func (m IfName) String() string {
	key := "iifname"
	if m.Out {
		key = "oifname"
	}
	return fmt.Sprintf("%s %s%q", key, notOp(m.Not), m.Name)
}

// Addr matches the IPv4 source or destination address against a prefix (a
// /32 is a single address). It implies `meta nfproto ipv4`.
type Addr struct {
	Dst    bool
	Not    bool
	Prefix netip.Prefix
}

// SAddr matches the IPv4 source address.
func SAddr(p netip.Prefix) Addr { return Addr{Prefix: p} }

// DAddr matches the IPv4 destination address.
func DAddr(p netip.Prefix) Addr { return Addr{Dst: true, Prefix: p} }

// Negate returns the match inverted.
func (m Addr) Negate() Addr { m.Not = !m.Not; return m }

func (m Addr) String() string {
	key := "saddr"
	if m.Dst {
		key = "daddr"
	}
	v := m.Prefix.Masked().String()
	if m.Prefix.IsSingleIP() {
		v = m.Prefix.Addr().String()
	}
	return fmt.Sprintf("ip %s %s%s", key, notOp(m.Not), v)
}

// CtState matches connection tracking states (any of them).
type CtState []string

// ctStates are the state bits in the order nft prints them.
var ctStates = []struct {
	name string
	bit  uint32
}{
	{"invalid", 1}, {"established", 2}, {"related", 4}, {"new", 8}, {"untracked", 64},
}

func (m CtState) mask() uint32 {
	var mask uint32
	for _, s := range m {
		for _, b := range ctStates {
			if b.name == s {
				mask |= b.bit
			}
		}
	}
	return mask
}

func (m CtState) String() string {
	mask, names := m.mask(), []string{}
	for _, b := range ctStates {
		if mask&b.bit != 0 {
			names = append(names, b.name)
		}
	}
	return "ct state " + strings.Join(names, ",")
}

// CtStatusDNAT matches connections whose destination was NATed (published
// ports).
type CtStatusDNAT struct{}

func (CtStatusDNAT) String() string { return "ct status dnat" }

// FibDaddrLocal matches packets addressed to one of the host's own
// addresses (iptables' `-m addrtype --dst-type LOCAL`).
type FibDaddrLocal struct{}

func (FibDaddrLocal) String() string { return "fib daddr type local" }

// Dport matches a TCP or UDP destination port. It implies `meta l4proto`.
type Dport struct {
	Proto string // "tcp" or "udp"
	Port  uint16
}

func (m Dport) String() string { return fmt.Sprintf("%s dport %d", m.Proto, m.Port) }

// ICMPEchoRequest matches pings.
type ICMPEchoRequest struct{}

func (ICMPEchoRequest) String() string { return "icmp type echo-request" }

// EtherSaddr matches a frame's Ethernet source address (family bridge).
type EtherSaddr struct{ MAC net.HardwareAddr }

func (m EtherSaddr) String() string { return "ether saddr " + m.MAC.String() }

// ARPSender matches an ARP packet whose sender hardware and protocol
// addresses are MAC and IP (family bridge; the Ethernet/IPv4 ARP layout,
// the only one the kernel's ARP accepts on Ethernet).
type ARPSender struct {
	MAC net.HardwareAddr
	IP  netip.Addr
}

func (m ARPSender) String() string {
	return fmt.Sprintf("arp saddr ether %s arp saddr ip %s", m.MAC, m.IP)
}

// FrameIPSaddr matches a frame carrying IPv4 from IP (family bridge, where
// the dependency is the frame's protocol rather than nfproto).
type FrameIPSaddr struct{ IP netip.Addr }

func (m FrameIPSaddr) String() string { return "ip saddr " + m.IP.String() }
