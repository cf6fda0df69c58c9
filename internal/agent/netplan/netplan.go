// Package netplan turns the boot config's network section into the
// operations PID 1 performs (loopback up; the NIC's MAC in a held boot's
// apply, and its old address and routes flushed in a fork's re-identify;
// its MTU, address, link and default route; /etc/resolv.conf) as
// plain values, executed through a
// small Handle (netlink in the guest, a recorder in tests). The image needs
// no `ip` binary and no DHCP client.
package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/guestpaths"
)

// Kind is an operation's kind.
type Kind string

// The operations.
const (
	LinkUp       Kind = "link-up"
	LinkDown     Kind = "link-down"
	Flush        Kind = "flush"
	SetMAC       Kind = "set-mac"
	SetMTU       Kind = "set-mtu"
	AddAddr      Kind = "add-addr"
	DefaultRoute Kind = "default-route"
)

// Op is one operation on one link. Link is the interface name, or, when
// MAC is set, the interface with that address (whatever the kernel named it).
type Op struct {
	Kind Kind
	Link string
	MAC  string
	// HWAddr is the address SetMAC gives the link.
	HWAddr  string
	MTU     int
	Addr    netip.Prefix
	Gateway netip.Addr
}

func (o Op) String() string {
	s := string(o.Kind) + " " + o.Link
	if o.MAC != "" {
		s += "[" + o.MAC + "]"
	}
	switch o.Kind {
	case SetMAC:
		s += " to " + o.HWAddr
	case SetMTU:
		s += fmt.Sprintf(" %d", o.MTU)
	case AddAddr:
		s += " " + o.Addr.String()
	case DefaultRoute:
		s += " via " + o.Gateway.String()
	}
	return s
}

// Plan returns the operations for n; nil n means only loopback.
func Plan(n *bootcfg.Network) []Op {
	ops := []Op{{Kind: LinkUp, Link: "lo"}}
	if n == nil {
		return ops
	}
	link := Op{Link: n.InterfaceName(), MAC: n.MAC}
	with := func(k Kind) Op { o := link; o.Kind = k; return o }
	if n.MTU > 0 {
		o := with(SetMTU)
		o.MTU = n.MTU
		ops = append(ops, o)
	}
	o := with(AddAddr)
	o.Addr = n.Address
	ops = append(ops, o, with(LinkUp))
	if n.Gateway.IsValid() {
		o := with(DefaultRoute)
		o.Gateway = n.Gateway
		ops = append(ops, o)
	}
	return ops
}

// HeldPlan returns the operations for n in a held boot's apply: the NIC,
// found by its name (after a restore it still has the MAC of the VM the
// snapshot was saved from), first gets n.MAC, then Plan(n) runs as in any
// boot, finding it by that MAC.
func HeldPlan(n *bootcfg.Network) []Op {
	ops := Plan(n)
	if n == nil || n.MAC == "" {
		return ops
	}
	set := Op{Kind: SetMAC, Link: n.InterfaceName(), HWAddr: n.MAC}
	return append([]Op{ops[0], set}, ops[1:]...)
}

// ReidentifyPlan returns the operations that make a running guest's NIC
// another VM's (a fork restored from a checkpoint takes a new identity):
// the NIC, found by its name (it has the source VM's MAC), goes down —
// the kernel drops its IPv6 addresses, link-local included, and the
// routes through it — loses whatever address and route is left, gets
// n.MAC, and then Plan(n) runs as in any boot, bringing it up again
// (which derives a new link-local address from the new MAC).
func ReidentifyPlan(n *bootcfg.Network) []Op {
	ops := Plan(n)
	if n == nil {
		return ops
	}
	link := n.InterfaceName()
	prefix := []Op{ops[0], {Kind: LinkDown, Link: link}, {Kind: Flush, Link: link}}
	if n.MAC != "" {
		prefix = append(prefix, Op{Kind: SetMAC, Link: link, HWAddr: n.MAC})
	}
	return append(prefix, ops[1:]...)
}

// Handle executes operations on links named by Resolve.
type Handle interface {
	// Resolve returns the name of the link (by MAC when set, else by
	// name, else the only ethernet NIC), waiting briefly for a NIC whose
	// driver is still probing.
	Resolve(name, mac string) (string, error)
	LinkUp(name string) error
	LinkDown(name string) error
	// Flush removes every address of the link and every route through
	// it.
	Flush(name string) error
	SetMAC(name, mac string) error
	SetMTU(name string, mtu int) error
	AddAddr(name string, addr netip.Prefix) error
	DefaultRoute(name string, gw netip.Addr) error
}

// Apply executes ops in order and stops at the first error.
func Apply(ops []Op, h Handle) error {
	for _, o := range ops {
		name, err := h.Resolve(o.Link, o.MAC)
		if err != nil {
			return fmt.Errorf("network: %s: %w", o, err)
		}
		switch o.Kind {
		case LinkUp:
			err = h.LinkUp(name)
		case LinkDown:
			err = h.LinkDown(name)
		case Flush:
			err = h.Flush(name)
		case SetMAC:
			err = h.SetMAC(name, o.HWAddr)
		case SetMTU:
			err = h.SetMTU(name, o.MTU)
		case AddAddr:
			err = h.AddAddr(name, o.Addr)
		case DefaultRoute:
			err = h.DefaultRoute(name, o.Gateway)
		default:
			err = errors.New("unknown operation")
		}
		if err != nil {
			return fmt.Errorf("network: %s: %w", o, err)
		}
	}
	return nil
}

// ResolvConf is /etc/resolv.conf's content for n, or nil when n names no
// DNS server (the image's file is then left alone).
func ResolvConf(n *bootcfg.Network) []byte {
	if n == nil || len(n.DNS) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("# written by banger-agent from the VM's boot config\n")
	for _, s := range n.DNS {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(n.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(n.Search, " "))
	}
	return []byte(b.String())
}

// ResolvTarget decides where resolv.conf's content goes. /etc/resolv.conf
// is often a symlink (systemd-resolved's ../run/systemd/resolve/
// stub-resolv.conf) that dangles in a fresh VM because /run is empty:
//
//   - not a link: write /etc/resolv.conf;
//   - a link to an existing file: write through it;
//   - a dangling link into /run (a tmpfs, rebuilt every boot): create the
//     target's directory and write the target, keeping the image's layout;
//   - any other dangling link: replace the link with a file.
//
// linkTarget is the link's content ("" when /etc/resolv.conf is not a
// link); targetExists says whether it resolves.
func ResolvTarget(linkTarget string, targetExists bool) (path string, replaceLink bool) {
	const etc = guestpaths.ResolvConf
	if linkTarget == "" {
		return etc, false
	}
	t := linkTarget
	if !strings.HasPrefix(t, "/") {
		t = "/etc/" + t
	}
	t = cleanPath(t)
	if targetExists {
		return t, false
	}
	if strings.HasPrefix(t, "/run/") {
		return t, false
	}
	return etc, true
}

func cleanPath(p string) string { return path.Clean(p) }
