package netplan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Netlink is the Handle PID 1 uses: rtnetlink in the current network
// namespace.
type Netlink struct {
	// Wait bounds how long Resolve waits for a NIC to appear (its driver
	// may still be probing right after boot); 0 means 3 s.
	Wait time.Duration
}

var _ Handle = Netlink{}

// Resolve finds the link by MAC (when set) or name; a NIC asked for by a
// name it does not have is the only ethernet NIC there is, whatever the
// kernel named it.
func (n Netlink) Resolve(name, mac string) (string, error) {
	wait := n.Wait
	if wait == 0 {
		wait = 3 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		if mac == "" {
			if _, err := netlink.LinkByName(name); err == nil {
				return name, nil
			}
			if only, ok := onlyEthernet(); ok {
				return only, nil
			}
		} else if links, err := netlink.LinkList(); err == nil {
			for _, l := range links {
				if strings.EqualFold(l.Attrs().HardwareAddr.String(), mac) {
					return l.Attrs().Name, nil
				}
			}
		}
		if time.Now().After(deadline) {
			if mac != "" {
				return "", fmt.Errorf("no interface with MAC %s", mac)
			}
			return "", fmt.Errorf("no interface %s", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// onlyEthernet returns the name of the one non-loopback ethernet link,
// when there is exactly one.
func onlyEthernet() (string, bool) {
	links, err := netlink.LinkList()
	if err != nil {
		return "", false
	}
	var names []string
	for _, l := range links {
		a := l.Attrs()
		if a.EncapType == "ether" && a.Flags&net.FlagLoopback == 0 {
			names = append(names, a.Name)
		}
	}
	if len(names) != 1 {
		return "", false
	}
	return names[0], true
}

func (Netlink) link(name string) (netlink.Link, error) { return netlink.LinkByName(name) }

// SetMAC sets the link's hardware address (virtio-net changes it live).
func (n Netlink) SetMAC(name, mac string) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return err
	}
	l, err := n.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetHardwareAddr(l, hw)
}

// LinkUp sets the link up.
func (n Netlink) LinkUp(name string) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// LinkDown sets the link down.
func (n Netlink) LinkDown(name string) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetDown(l)
}

// Flush removes the link's routes (main table), then its addresses, of
// every family; what the kernel removed meanwhile is fine.
func (n Netlink) Flush(name string) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	routes, err := netlink.RouteList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if err := netlink.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %s: %w", r, err)
		}
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if err := netlink.AddrDel(l, &a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("delete address %s: %w", a.IPNet, err)
		}
	}
	return nil
}

// SetMTU sets the link's MTU.
func (n Netlink) SetMTU(name string, mtu int) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetMTU(l, mtu)
}

// AddAddr adds addr (an existing one is fine).
func (n Netlink) AddAddr(name string, addr netip.Prefix) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	ipnet := &net.IPNet{IP: net.IP(addr.Addr().AsSlice()), Mask: net.CIDRMask(addr.Bits(), addr.Addr().BitLen())}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipnet}); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// DefaultRoute adds a default route via gw on the link. A gateway outside
// the link's subnets — a pod's /32 with a link-local gateway, as Calico
// gives (a VM attached to its namespace takes both) — is reached
// "onlink": the kernel refuses it otherwise (ENETUNREACH).
func (n Netlink) DefaultRoute(name string, gw netip.Addr) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(gw.AsSlice())}
	err = netlink.RouteAdd(r)
	if errors.Is(err, unix.ENETUNREACH) {
		r.Flags = int(netlink.FLAG_ONLINK)
		err = netlink.RouteAdd(r)
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}
