package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A user-defined network (`banger network create`) is a Network of its
// own, derived from the daemon's: its own bridge, nft table (both
// families) and subnet, named after the network's id, the same store
// (leases are keyed by VM id), edges, owner mark and tap owner. Its taps
// are not isolated ports, so the VMs on it reach each other; each table's
// forward chain drops what is routed into its bridge from anywhere else,
// so VMs on different networks (or on the default one) do not. Its DNS
// relay always runs on its gateway and answers the names its NameFunc
// knows (the VMs on that network and their aliases) before forwarding
// the rest to the host's resolvers.
const (
	// UserBridgePrefix starts a user network's bridge; the rest is the
	// network id's first UserIDLen characters.
	UserBridgePrefix = "bn-"
	UserIDLen        = 12
)

// UserPool is where `network create` picks a subnet from when none is
// given: clear of the default network's (10.213.0.0/20 and auto's
// 10.218.0.0/15).
var UserPool = netip.MustParsePrefix("10.220.0.0/14")

// NameFunc answers, for a name a guest asked (lower case, no trailing
// dot), the addresses of the VMs on the network that carry it; none sends
// the query on to the host's resolvers.
type NameFunc func(name string) []netip.Addr

// UserBridge is the bridge of the user network with that id.
func UserBridge(id string) string { return UserBridgePrefix + short(id) }

// UserTable is the nft table (inet and bridge families) of the user
// network with that id, beside the daemon's table.
func (n *Network) UserTable(id string) string { return n.cfg.Table + "-" + short(id) }

func short(id string) string {
	if len(id) > UserIDLen {
		return id[:UserIDLen]
	}
	return id
}

// ForUser returns the host side of the user network with that id and
// subnet. Nothing on the host changes until its Setup; Teardown removes
// its bridge, tables and relay.
func (n *Network) ForUser(id string, subnet netip.Prefix, names NameFunc) (*Network, error) {
	if err := checkVMID(id); err != nil || strings.ContainsAny(id, "_-") {
		return nil, fmt.Errorf("network id %q: %w: want letters and digits", id, errdefs.ErrInvalid)
	}
	if err := CheckSubnet(subnet); err != nil {
		return nil, err
	}
	if names == nil {
		names = func(string) []netip.Addr { return nil }
	}
	cfg := n.cfg
	cfg.Bridge, cfg.Table = UserBridge(id), n.UserTable(id)
	cfg.Subnet, cfg.Gateway = subnet, subnet.Addr().Next()
	cfg.IsolateVMs = false
	return &Network{cfg: cfg, st: n.st, links: n.links, nft: n.nft, log: n.log.With("network", id), resolvConf: n.resolvConf, names: names, ports: n.ports}, nil
}

// CheckSubnet refuses what cannot be a VM network: not IPv4, not a
// network address, or smaller than a /29.
func CheckSubnet(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 || p.Masked() != p {
		return fmt.Errorf("subnet %s: %w: want an IPv4 network between /8 and /29 such as 10.220.4.0/24", p, errdefs.ErrInvalid)
	}
	return nil
}

// Bridge is the network's bridge.
func (n *Network) Bridge() string { return n.cfg.Bridge }

// Table is the network's nft table (inet and bridge families).
func (n *Network) Table() string { return n.cfg.Table }

// relayed is the DNS choice of a user network: guests always ask the
// gateway, whose relay answers the network's names and forwards the rest
// to the host's resolvers, as it reaches them.
func (d dnsChoice) relayed() dnsChoice {
	out := dnsChoice{Forward: true, Upstreams: d.Upstreams}
	if !d.Forward {
		out.Upstreams = nil
		for _, s := range d.Servers {
			out.Upstreams = append(out.Upstreams, netip.AddrPortFrom(s, 53))
		}
	}
	return out
}

// Taken are the IPv4 networks a new user network must not overlap: the
// host's routes (but the default one), its addresses, and this network's
// subnet.
func (n *Network) Taken(ctx context.Context) ([]netip.Prefix, error) {
	st, err := n.links.state(ctx, n.cfg.Bridge)
	if err != nil {
		return nil, fmt.Errorf("read the host's routes: %w", err)
	}
	out := []netip.Prefix{n.cfg.Subnet}
	for _, r := range st.Routes {
		if r.Dst.Bits() > 0 {
			out = append(out, r.Dst)
		}
	}
	for _, a := range st.LocalAddrs {
		if a.Is4() {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	return out, nil
}

// UserBridges are the user networks' bridges this daemon marked (all of
// them for a daemon that marks none), sorted: what gc compares with the
// network records.
func (n *Network) UserBridges(ctx context.Context) ([]string, error) {
	st, err := n.links.state(ctx, n.cfg.Bridge)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, alias := range st.UserBridges {
		if n.cfg.Owner == "" || alias == OwnerMark(n.cfg.Owner) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// RemoveUserBridge removes a user network's bridge and its tables by the
// bridge's name alone (gc of a network no record names).
func (n *Network) RemoveUserBridge(ctx context.Context, bridge string) error {
	short, ok := strings.CutPrefix(bridge, UserBridgePrefix)
	if !ok || short == "" {
		return fmt.Errorf("bridge %q: %w: not a user network's", bridge, errdefs.ErrInvalid)
	}
	return errors.Join(n.nft.deleteTable(ctx, n.UserTable(short)), n.links.apply(ctx, []linkOp{opDelLink{Name: bridge}}))
}
