package hostnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/hostnet/nftplan"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Network is banger's host networking for one bridge, subnet and nft
// table. Its methods are safe for concurrent use.
type Network struct {
	cfg   netConfig
	st    *store.Store
	links linkEdge
	nft   nftEdge
	log   *slog.Logger

	resolvConf string
	// ports is where random host ports come from (pickPorts).
	ports portEdge
	// names answers DNS for a user network's VMs (ForUser); nil for the
	// default network, whose relay only forwards.
	names NameFunc

	mu  sync.Mutex
	dns *dnsChoice // decided by Setup
	fwd *forwarder
}

// netConfig is config.Network parsed, plus the options that shape links.
type netConfig struct {
	Bridge     string
	Subnet     netip.Prefix
	Gateway    netip.Addr
	Table      string
	MTU        int
	IsolateVMs bool
	TapUID     int
	TapGID     int
	// Owner is the state dir of the daemon that owns the bridge and the
	// table (see own.go); empty marks nothing and checks nothing.
	Owner string
}

// GatewayPrefix is the bridge's address with the subnet's length.
func (c netConfig) GatewayPrefix() netip.Prefix { return netip.PrefixFrom(c.Gateway, c.Subnet.Bits()) }

func (c netConfig) params(forwarder bool) rulesetParams {
	return rulesetParams{Table: c.Table, Bridge: c.Bridge, Subnet: c.Subnet, Gateway: c.Gateway, IsolateVMs: c.IsolateVMs, DNSForwarder: forwarder, Owner: c.Owner}
}

// Option adjusts a Network.
type Option func(*Network)

// WithResolvConf reads the host's resolvers from path instead of
// /etc/resolv.conf.
func WithResolvConf(path string) Option { return func(n *Network) { n.resolvConf = path } }

// WithTapOwner makes taps openable by uid/gid (a jailed Firecracker runs
// unprivileged). The default, 0/0, leaves them to root.
func WithTapOwner(uid, gid int) Option {
	return func(n *Network) { n.cfg.TapUID, n.cfg.TapGID = uid, gid }
}

// WithOwner marks the bridge and the table as the daemon's whose state dir
// is stateDir, and makes Setup refuse a bridge or table another daemon
// marked (see own.go).
func WithOwner(stateDir string) Option { return func(n *Network) { n.cfg.Owner = stateDir } }

// WithLogger logs what Setup, Attach and Detach change (default: discard).
func WithLogger(l *slog.Logger) Option { return func(n *Network) { n.log = l } }

// withPortEdge replaces the host's port range and listeners (tests).
func withPortEdge(e portEdge) Option { return func(n *Network) { n.ports = e } }

// withEdges replaces the netlink edges (tests).
func withEdges(l linkEdge, f nftEdge) Option { return func(n *Network) { n.links, n.nft = l, f } }

// New checks the configuration and returns a Network over the store, where
// leases live. Nothing on the host changes until Setup.
//
// With subnet "auto" New picks a /24 of 10.218.0.0/15 that overlaps no
// route and holds no host address (it reads the host, changing nothing)
// the first time, and keeps it in the store for the daemon's later starts.
func New(cfg config.Network, st *store.Store, opts ...Option) (*Network, error) {
	subnet, err := netip.ParsePrefix(cfg.Subnet)
	if cfg.Subnet == AutoSubnet {
		subnet, err = autoPool, nil // replaced below, once the edges are known
	}
	if err != nil || !subnet.Addr().Is4() || subnet.Bits() > 29 || subnet.Masked() != subnet {
		return nil, fmt.Errorf("network.subnet %q: %w: want an IPv4 network such as 10.213.0.0/20 (at most /29), or auto", cfg.Subnet, errdefs.ErrInvalid)
	}
	if n := len(cfg.Bridge); n == 0 || n > 15 {
		return nil, fmt.Errorf("network.bridge %q: %w: want 1..15 characters", cfg.Bridge, errdefs.ErrInvalid)
	}
	if cfg.NftTable == "" || cfg.MTU < 576 {
		return nil, fmt.Errorf("network: %w: nft_table must be set and mtu at least 576", errdefs.ErrInvalid)
	}
	n := &Network{
		cfg: netConfig{
			Bridge: cfg.Bridge, Subnet: subnet, Gateway: subnet.Addr().Next(), Table: cfg.NftTable,
			MTU: cfg.MTU, IsolateVMs: cfg.IsolateVMs,
		},
		st:         st,
		log:        slog.New(slog.DiscardHandler),
		resolvConf: "/etc/resolv.conf",
		ports:      hostPorts(),
	}
	n.links, n.nft = newEdges()
	for _, o := range opts {
		o(n)
	}
	if cfg.Subnet == AutoSubnet {
		if n.cfg.Subnet, err = n.autoSubnet(context.Background()); err != nil {
			return nil, err
		}
		n.cfg.Gateway = n.cfg.Subnet.Addr().Next()
	}
	return n, nil
}

// autoSubnet is the subnet an earlier start chose, or a free one now,
// recorded in the store.
func (n *Network) autoSubnet(ctx context.Context) (netip.Prefix, error) {
	key := "hostnet/subnet/" + n.cfg.Bridge
	var kept string
	err := n.st.View(func(tx *store.Tx) error { return tx.Get(store.Meta, key, &kept) })
	if err == nil {
		return netip.ParsePrefix(kept)
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		return netip.Prefix{}, err
	}
	st, err := n.links.state(ctx, n.cfg.Bridge)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("network.subnet auto: %w", err)
	}
	p, err := chooseSubnet(autoPool, n.cfg.Owner+"\x00"+n.cfg.Bridge, n.cfg.Bridge, st.Routes, st.LocalAddrs)
	if err != nil {
		return p, err
	}
	return p, n.st.Update(func(tx *store.Tx) error { return tx.Put(store.Meta, key, p.String()) })
}

// Subnet is the network VM addresses are leased from (with subnet "auto",
// the one chosen).
func (n *Network) Subnet() netip.Prefix { return n.cfg.Subnet }

// Gateway is the bridge's address, the guests' default route.
func (n *Network) Gateway() netip.Addr { return n.cfg.Gateway }

// Plan returns banger's base ruleset as Setup installs it (for `banger
// doctor` and tests).
func (n *Network) Plan() nftplan.Plan {
	n.mu.Lock()
	defer n.mu.Unlock()
	return basePlan(n.cfg.params(n.dns != nil && n.dns.Forward))
}

// BridgePlan returns banger's bridge-family table as Setup installs it.
func (n *Network) BridgePlan() nftplan.Plan { return bridgePlan(n.cfg.Table) }

// Close stops the DNS forwarder. Host state (bridge, table, taps) stays:
// VMs outlive the daemon.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.fwd != nil {
		err := n.fwd.Close()
		n.fwd = nil
		return err
	}
	return nil
}

// Mode is how a VM is networked (a VM spec's network mode).
type Mode string

// The network modes.
const (
	// ModeBridge gives the VM a NIC on banger's bridge (the default).
	ModeBridge Mode = "bridge"
	// ModeNone gives the VM no NIC at all: no tap, no lease, no rule.
	ModeNone Mode = "none"
)

// ParseMode reads `--network`; empty means bridge.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", string(ModeBridge):
		return ModeBridge, nil
	case string(ModeNone):
		return ModeNone, nil
	}
	return "", fmt.Errorf("network mode %q: %w: want bridge or none", s, errdefs.ErrInvalid)
}
