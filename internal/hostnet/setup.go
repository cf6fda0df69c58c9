package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Setup makes the host ready for VMs, idempotently: it refuses a bridge
// or table another daemon owns (WithOwner) and a subnet that overlaps a
// route not on banger's bridge; ensures the bridge with
// the gateway address, ip_forward (recording the old value for Teardown)
// and banger's nft table with its base chains (family inet, and family
// bridge for what each tap may send); isolates every tap on the
// bridge as configured; and starts the DNS forwarder when the host's
// resolvers are out of the guests' reach. Rules of running VMs survive it,
// so a restarted daemon calls Setup and keeps them.
func (n *Network) Setup(ctx context.Context) error {
	st, err := n.links.state(ctx, n.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("network setup: %w", err)
	}
	chains, err := n.nft.chains(ctx, n.cfg.Table)
	if err != nil {
		return fmt.Errorf("network setup: %w", err)
	}
	alias := ""
	if st.Bridge != nil {
		alias = st.Bridge.Alias
	}
	if err := checkOwner(n.cfg.Owner, n.cfg, alias, chains); err != nil {
		return err
	}
	if err := checkOverlap(n.cfg.Subnet, n.cfg.Bridge, st.Routes); err != nil {
		return err
	}
	// The default network keeps ip_forward's old value for Teardown; a
	// user network, set up after it, never finds it off (and must not
	// restore it under the default network when it goes).
	if st.IPForward != "1" && n.names == nil {
		if err := n.rememberIPForward(st.IPForward); err != nil {
			return err
		}
	}
	ops := setupOps(n.cfg, st)
	for _, op := range ops {
		n.log.Info("network setup", "op", op.String())
	}
	if err := n.links.apply(ctx, ops); err != nil {
		return fmt.Errorf("network setup: %w", err)
	}

	dns := n.readDNS(st.LocalAddrs)
	if n.names != nil {
		dns = dns.relayed()
	}
	if err := n.startDNS(dns); err != nil {
		return err
	}
	if err := n.nft.ensure(ctx, basePlan(n.cfg.params(dns.Forward))); err != nil {
		return fmt.Errorf("network setup: %w", err)
	}
	if err := n.nft.ensure(ctx, bridgePlan(n.cfg.Table)); err != nil {
		return fmt.Errorf("network setup: %w", err)
	}
	return nil
}

// checkOverlap refuses a subnet that meets a route on another interface:
// guests would shadow (or be shadowed by) real hosts.
func checkOverlap(subnet netip.Prefix, bridge string, routes []Route) error {
	for _, r := range routes {
		if r.Dst.Bits() == 0 || r.Dev == bridge || !r.Dst.Overlaps(subnet) {
			continue
		}
		return fmt.Errorf("network.subnet %s: %w: it overlaps the route to %s via %s; set [network] subnet in the daemon's config to a free range (see `banger config default`)",
			subnet, errdefs.ErrConflict, r.Dst, r.Dev)
	}
	return nil
}

func (n *Network) startDNS(dns dnsChoice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dns = &dns
	if n.fwd != nil && (!dns.Forward || !slices.Equal(n.fwd.upstreams, dns.Upstreams)) {
		err := n.fwd.Close()
		n.fwd = nil
		if err != nil {
			return fmt.Errorf("restart dns forwarder: %w", err)
		}
	}
	if dns.Forward && n.fwd == nil {
		fwd, err := startForwarder(netip.AddrPortFrom(n.cfg.Gateway, 53), dns.Upstreams, n.names, n.log)
		if err != nil {
			return err
		}
		n.fwd = fwd
	}
	return nil
}

// ipForwardKey keeps, per bridge, the ip_forward value Setup found before
// turning it on, until Teardown puts it back.
func (n *Network) ipForwardKey() string { return "hostnet/ip_forward/" + n.cfg.Bridge }

func (n *Network) rememberIPForward(old string) error {
	return n.st.Update(func(tx *store.Tx) error {
		if tx.Has(store.Meta, n.ipForwardKey()) {
			return nil // an earlier Setup recorded the value before banger's
		}
		return tx.Put(store.Meta, n.ipForwardKey(), old)
	})
}

// Teardown removes what Setup made: banger's nft table in both families
// (with every VM's rules), the bridge and the forwarder, and restores ip_forward when
// banger turned it on. Taps and leases stay: Detach and Release own them.
func (n *Network) Teardown(ctx context.Context) error {
	errs := []error{n.Close(), n.nft.deleteTable(ctx, n.cfg.Table), n.links.apply(ctx, []linkOp{opDelLink{Name: n.cfg.Bridge}})}
	var old string
	err := n.st.View(func(tx *store.Tx) error { return tx.Get(store.Meta, n.ipForwardKey(), &old) })
	switch {
	case err == nil:
		if err := n.links.apply(ctx, []linkOp{opSysctl{Path: sysctlIPForward, Value: strings.TrimSpace(old)}}); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, n.st.Delete(store.Meta, n.ipForwardKey()))
		}
	case !errors.Is(err, errdefs.ErrNotFound):
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("network teardown: %w", err)
	}
	return nil
}
