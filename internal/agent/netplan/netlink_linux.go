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

// Resolve finds the link by MAC (when set) or name.
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

func (Netlink) link(name string) (netlink.Link, error) { return netlink.LinkByName(name) }

// LinkUp sets the link up.
func (n Netlink) LinkUp(name string) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
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

// DefaultRoute adds a default route via gw on the link.
func (n Netlink) DefaultRoute(name string, gw netip.Addr) error {
	l, err := n.link(name)
	if err != nil {
		return err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(gw.AsSlice())}
	if err := netlink.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}
