package hostnet

import (
	"net"
	"net/netip"

	"github.com/bangerdev/banger/internal/hostnet/nftplan"
)

// The chains of banger's table. Base chains are rebuilt whole by Setup;
// per-VM rules live only in chainPublished, which Setup never flushes, so a
// daemon restart keeps the ports of running VMs published.
const (
	chainForward     = "forward"
	chainInput       = "input"
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPostrouting = "postrouting"
	chainPublished   = "published"
)

// rulesetParams is everything the base ruleset depends on.
type rulesetParams struct {
	Table      string
	Bridge     string
	Subnet     netip.Prefix
	Gateway    netip.Addr
	IsolateVMs bool
	// DNSForwarder opens port 53 on the gateway to the guests.
	DNSForwarder bool
	// Owner, when set, is marked by an empty chain (see own.go).
	Owner string
}

var loopbackNet = netip.MustParsePrefix("127.0.0.0/8")

// basePlan is banger's table without any VM: NAT out, published-port
// dispatch, VM isolation, and the guests' limited view of the host.
func basePlan(p rulesetParams) nftplan.Plan {
	br := p.Bridge
	gw := netip.PrefixFrom(p.Gateway, 32)
	fromBr, toBr := nftplan.IIF(br), nftplan.OIF(br)
	established := nftplan.CtState{"established", "related"}
	rule := func(chain string, v nftplan.Verdict, m ...nftplan.Match) nftplan.Rule {
		return nftplan.Rule{Chain: chain, Match: m, Verdict: v}
	}

	var rules []nftplan.Rule
	// Forward: replies and published ports reach guests; nothing else
	// from outside does (the subnet is not routable from the LAN), and
	// with isolation nothing routed between guests either. Guests' own
	// traffic out is not restricted here.
	rules = append(rules, rule(chainForward, nftplan.Accept{}, toBr, established))
	if p.IsolateVMs {
		rules = append(rules, rule(chainForward, nftplan.Drop{}, fromBr, toBr))
	}
	rules = append(rules,
		rule(chainForward, nftplan.Accept{}, toBr, nftplan.CtStatusDNAT{}),
		rule(chainForward, nftplan.Drop{}, fromBr.Negate(), toBr),
	)

	// Input: guests see only what they need of the host. Replies to
	// connections the host opened (the agent's TCP channel, the
	// 127.0.0.1 path of published ports) are established; pings to the
	// gateway help debugging; DNS only when banger forwards it. Everything
	// else — sshd, the daemon, anything listening on 0.0.0.0, and
	// 127.0.0.0/8 made reachable by route_localnet — is dropped.
	rules = append(rules,
		rule(chainInput, nftplan.Accept{}, fromBr, established),
		rule(chainInput, nftplan.Accept{}, fromBr, nftplan.DAddr(gw), nftplan.ICMPEchoRequest{}),
	)
	if p.DNSForwarder {
		rules = append(rules,
			rule(chainInput, nftplan.Accept{}, fromBr, nftplan.DAddr(gw), nftplan.Dport{Proto: "udp", Port: 53}),
			rule(chainInput, nftplan.Accept{}, fromBr, nftplan.DAddr(gw), nftplan.Dport{Proto: "tcp", Port: 53}),
		)
	}
	rules = append(rules, rule(chainInput, nftplan.Drop{}, fromBr))

	// Published ports: packets to any host address go through the
	// per-VM DNAT rules; from outside, never for 127.0.0.0/8 (a LAN
	// neighbour must not reach ports published on loopback only).
	rules = append(rules,
		rule(chainPrerouting, nftplan.Jump{Chain: chainPublished}, nftplan.FibDaddrLocal{}, nftplan.DAddr(loopbackNet).Negate()),
		rule(chainOutput, nftplan.Jump{Chain: chainPublished}, nftplan.FibDaddrLocal{}),
	)

	// Source NAT: guests leave through whatever interface the route picks
	// (the default route, a VPN, a test's veth) as the host. Connections
	// from the host's 127.0.0.1 to a published port leave on the bridge
	// from the gateway address, as a guest cannot answer 127.0.0.1.
	rules = append(rules,
		rule(chainPostrouting, nftplan.Masquerade{}, nftplan.SAddr(p.Subnet), toBr.Negate()),
		rule(chainPostrouting, nftplan.Masquerade{}, toBr, nftplan.SAddr(loopbackNet)),
	)

	plan := nftplan.Plan{
		Table: p.Table,
		Chains: []nftplan.Chain{
			{Name: chainForward, Type: "filter", Hook: nftplan.Forward, Priority: 0},
			{Name: chainInput, Type: "filter", Hook: nftplan.Input, Priority: 0},
			{Name: chainPrerouting, Type: "nat", Hook: nftplan.Prerouting, Priority: -100},
			{Name: chainOutput, Type: "nat", Hook: nftplan.Output, Priority: -100},
			{Name: chainPostrouting, Type: "nat", Hook: nftplan.Postrouting, Priority: 100},
			{Name: chainPublished},
		},
		Rules: rules,
	}
	if p.Owner != "" {
		plan.Chains = append(plan.Chains, nftplan.Chain{Name: ownerChain(p.Owner)})
	}
	return plan
}

// portRules are a VM's DNAT rules, one per mapping, each marked with the
// VM's id. Mappings must be normalized.
func portRules(vmID string, guest netip.Addr, ports []Port) []nftplan.Rule {
	out := make([]nftplan.Rule, 0, len(ports))
	for _, p := range ports {
		var m []nftplan.Match
		if p.HostIP != "" {
			m = append(m, nftplan.DAddr(netip.PrefixFrom(netip.MustParseAddr(p.HostIP), 32)))
		}
		m = append(m, nftplan.Dport{Proto: p.Protocol, Port: uint16(p.HostPort)}) //nolint:gosec // 1..65535, checked by ParsePort
		out = append(out, nftplan.Rule{
			Chain:   chainPublished,
			Match:   m,
			Verdict: nftplan.DNAT{Addr: guest, Port: uint16(p.GuestPort)}, //nolint:gosec // 1..65535, checked by ParsePort
			Comment: Marker(vmID),
		})
	}
	return out
}

// The chains of banger's table in the bridge family: what a tap may send
// is decided there, before the bridge learns a frame's source or forwards
// it, so a guest that takes another VM's MAC or IP address poisons
// neither the bridge's forwarding table nor the host's ARP cache, and its
// packets go nowhere. Bridged frames never reach the inet table's hooks,
// and the inet ingress hook sees no ARP.
const (
	chainFrames    = "frames"
	chainAntispoof = "antispoof"
)

// bridgePlan is banger's bridge-family table without any VM: the base
// chain jumps to the per-VM rules, which Setup never flushes.
func bridgePlan(table string) nftplan.Plan {
	return nftplan.Plan{
		Family: nftplan.FamilyBridge,
		Table:  table,
		Chains: []nftplan.Chain{
			{Name: chainFrames, Type: "filter", Hook: nftplan.Prerouting, Priority: -200},
			{Name: chainAntispoof},
		},
		Rules: []nftplan.Rule{{Chain: chainFrames, Verdict: nftplan.Jump{Chain: chainAntispoof}}},
	}
}

// antispoofRules say what a VM's tap may send: frames from the VM's own
// MAC carrying ARP that names its own MAC and IP, or IPv4 from its own IP.
// Every other frame from the tap — another source MAC or address, IPv6,
// VLAN tags, any other protocol — is dropped. Keyed to the tap by name,
// each rule marked with the VM's id like its published ports.
func antispoofRules(vmID, tap string, mac net.HardwareAddr, ip netip.Addr) []nftplan.Rule {
	in := nftplan.IIF(tap)
	rule := func(v nftplan.Verdict, m ...nftplan.Match) nftplan.Rule {
		return nftplan.Rule{Chain: chainAntispoof, Match: m, Verdict: v, Comment: Marker(vmID)}
	}
	return []nftplan.Rule{
		rule(nftplan.Accept{}, in, nftplan.EtherSaddr{MAC: mac}, nftplan.ARPSender{MAC: mac, IP: ip}),
		rule(nftplan.Accept{}, in, nftplan.EtherSaddr{MAC: mac}, nftplan.FrameIPSaddr{IP: ip}),
		rule(nftplan.Drop{}, in),
	}
}
