package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func newEdges() (linkEdge, nftEdge) { return netlinkEdge{}, nftConn{} }

// netlinkEdge runs link operations through rtnetlink in the current
// network namespace.
type netlinkEdge struct{}

// state reads the host's links, routes and addresses. A dump the kernel
// interrupted because the tables changed meanwhile (other VMs' taps come
// and go) is read again: its results may be incomplete.
func (e netlinkEdge) state(ctx context.Context, bridge string) (hostState, error) {
	for try := 1; ; try++ {
		st, err := e.stateOnce(ctx, bridge)
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == dumpTries {
			return st, err
		}
		time.Sleep(time.Duration(try) * 5 * time.Millisecond)
	}
}

// dumpTries bounds the re-reads of an interrupted dump.
const dumpTries = 20

func (netlinkEdge) stateOnce(ctx context.Context, bridge string) (hostState, error) {
	var st hostState
	if err := ctx.Err(); err != nil {
		return st, err
	}
	links, err := netlink.LinkList()
	if err != nil {
		return st, fmt.Errorf("list links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	for _, l := range links {
		a := l.Attrs()
		switch {
		case a.Name == bridge:
			if l.Type() != "bridge" {
				return st, fmt.Errorf("network.bridge %q: %w: a %s link of that name exists; set another bridge name in the config", bridge, errdefs.ErrConflict, l.Type())
			}
			addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
			if err != nil {
				return st, fmt.Errorf("list addresses of %s: %w", bridge, err)
			}
			b := &bridgeState{Index: a.Index, MTU: a.MTU, MAC: a.HardwareAddr, Up: a.Flags&net.FlagUp != 0, Alias: a.Alias}
			for _, ad := range addrs {
				b.Addrs = append(b.Addrs, ipNetPrefix(ad.IPNet))
			}
			st.Bridge = b
		case strings.HasPrefix(a.Name, UserBridgePrefix) && l.Type() == "bridge":
			if st.UserBridges == nil {
				st.UserBridges = map[string]string{}
			}
			st.UserBridges[a.Name] = a.Alias
		case strings.HasPrefix(a.Name, TapPrefix) && l.Type() == "tuntap":
			t := TapInfo{Name: a.Name, Bridge: names[a.MasterIndex]}
			if a.MasterIndex != 0 {
				if pi, err := netlink.LinkGetProtinfo(l); err == nil {
					t.Isolated = pi.Isolated
				}
			}
			st.Taps = append(st.Taps, t)
		}
	}
	fwd, err := os.ReadFile("/proc/sys/" + sysctlIPForward)
	if err != nil {
		return st, fmt.Errorf("read ip_forward: %w", err)
	}
	st.IPForward = strings.TrimSpace(string(fwd))
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			st.Routes = append(st.Routes, Route{Dst: ipNetPrefix(r.Dst).Masked(), Dev: names[r.LinkIndex]})
		}
	}
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return st, fmt.Errorf("list addresses: %w", err)
	}
	for _, ad := range addrs {
		st.LocalAddrs = append(st.LocalAddrs, ipNetPrefix(ad.IPNet).Addr())
	}
	return st, nil
}

func ipNetPrefix(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

func (e netlinkEdge) apply(ctx context.Context, ops []linkOp) error {
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := e.run(op); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

func (netlinkEdge) run(op linkOp) error {
	switch o := op.(type) {
	case opAddBridge:
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: o.Name, MTU: o.MTU, HardwareAddr: o.MAC}})
	case opBridgeSettings:
		l, err := netlink.LinkByName(o.Name)
		if err != nil {
			return err
		}
		return errors.Join(netlink.LinkSetMTU(l, o.MTU), netlink.LinkSetHardwareAddr(l, o.MAC))
	case opAddrAdd:
		return withLink(o.Link, func(l netlink.Link) error { return netlink.AddrReplace(l, prefixAddr(o.Addr)) })
	case opAddrDel:
		return withLink(o.Link, func(l netlink.Link) error { return netlink.AddrDel(l, prefixAddr(o.Addr)) })
	case opLinkUp:
		return withLink(o.Name, netlink.LinkSetUp)
	case opSysctl:
		return os.WriteFile(filepath.Join("/proc/sys", o.Path), []byte(o.Value), 0o644) //nolint:gosec // a sysctl path from our own plan
	case opAddTap:
		return addTap(o)
	case opSetIsolated:
		return withLink(o.Name, func(l netlink.Link) error { return netlink.LinkSetIsolated(l, o.Isolated) })
	case opSetAlias:
		return withLink(o.Name, func(l netlink.Link) error { return netlink.LinkSetAlias(l, o.Alias) })
	case opDelLink:
		l, err := netlink.LinkByName(o.Name)
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil
		}
		if err != nil {
			return err
		}
		return netlink.LinkDel(l)
	}
	return fmt.Errorf("unknown link operation %T", op)
}

// addTap creates the tap and, should any later step fail, deletes it
// again, so a half-made tap never outlives the call.
func addTap(o opAddTap) (err error) {
	tap := &netlink.Tuntap{
		LinkAttrs: netlink.LinkAttrs{Name: o.Name},
		Mode:      netlink.TUNTAP_MODE_TAP,
		Flags:     netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR,
		Owner:     uint32(o.UID), //nolint:gosec // uid from the config, validated non-negative
		Group:     uint32(o.GID), //nolint:gosec // gid from the config
	}
	if err := netlink.LinkAdd(tap); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = netlink.LinkDel(tap)
		}
	}()
	if err := netlink.LinkSetMTU(tap, o.MTU); err != nil {
		return err
	}
	if o.Bridge != "" {
		br, err := netlink.LinkByName(o.Bridge)
		if err != nil {
			return fmt.Errorf("bridge %s: %w", o.Bridge, err)
		}
		if err := netlink.LinkSetMaster(tap, br); err != nil {
			return err
		}
		if err := netlink.LinkSetIsolated(tap, o.Isolated); err != nil {
			return err
		}
	}
	return netlink.LinkSetUp(tap)
}

func withLink(name string, fn func(netlink.Link) error) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return fn(l)
}

func prefixAddr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
}
