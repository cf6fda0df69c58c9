package hostnet

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// NetnsPrefix starts a network mode that attaches the VM to a network
// namespace someone else made: "netns:PATH[:IFACE]".
const NetnsPrefix = "netns:"

// NetnsTarget is a network namespace to attach a VM to, and the
// interface in it whose place the guest takes.
type NetnsTarget struct {
	// Path is the namespace's file: /var/run/netns/NAME (ip netns, CNI)
	// or /proc/PID/ns/net.
	Path string `json:"path"`
	// Iface names the interface; empty means the namespace's only one
	// besides loopback.
	Iface string `json:"iface,omitempty"`
}

// String is the network mode that parses back to t.
func (t NetnsTarget) String() string {
	if t.Iface == "" {
		return NetnsPrefix + t.Path
	}
	return NetnsPrefix + t.Path + ":" + t.Iface
}

// ParseNetns reads a network mode: ok is false (and err nil) for a mode
// that is not "netns:…". The path must be absolute and clean and holds no
// ':'; what follows a last ':' is the interface's name.
func ParseNetns(mode string) (t NetnsTarget, ok bool, err error) {
	rest, ok := strings.CutPrefix(mode, NetnsPrefix)
	if !ok {
		return NetnsTarget{}, false, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("--network %q: %w: %s; want netns:PATH[:IFACE], e.g. netns:/var/run/netns/pod1 or netns:/proc/1234/ns/net:eth0", mode, errdefs.ErrInvalid, why)
	}
	t.Path = rest
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		t.Path, t.Iface = rest[:i], rest[i+1:]
		if !validIfName(t.Iface) {
			return t, true, bad(fmt.Sprintf("interface %q: want 1..15 characters without '/', ':' or spaces", t.Iface))
		}
	}
	if !path.IsAbs(t.Path) || path.Clean(t.Path) != t.Path || t.Path == "/" {
		return t, true, bad(fmt.Sprintf("path %q is not an absolute, clean path", t.Path))
	}
	if strings.ContainsAny(t.Path, "\x00\n") {
		return t, true, bad("the path holds a control character")
	}
	return t, true, nil
}

// NetnsPortsError refuses published ports for a VM in the namespace of
// mode: banger's NAT and DNAT live on its bridge, which such a VM is not
// on.
func NetnsPortsError(mode string) error {
	return fmt.Errorf("%w: --publish does not apply with --network %s: banger publishes ports only from its own bridge; the namespace's owner routes to the VM (a Kubernetes Service, CNI's portmap)", errdefs.ErrInvalid, mode)
}

func validIfName(s string) bool {
	return len(s) >= 1 && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n\x00")
}

// NetnsHandles name what a VM holds in a namespace; the daemon records
// them before Attach creates anything, and Detach needs nothing else.
type NetnsHandles struct {
	Path string `json:"path"`
	// Inode is the namespace's (nsrun.NS.Inode) at attach: a path that
	// later names another namespace (a reused pid, a recreated name) is
	// left alone, and one that names none means it is all gone.
	Inode uint64 `json:"inode"`
	// Tap is "bg-" + the VM id, in the namespace; Veth the interface it
	// is joined to.
	Tap  string `json:"tap"`
	Veth string `json:"veth"`
	// Ingress says banger adds (or added) the veth's ingress qdisc,
	// which it had not; Detach deletes it then, and only then.
	Ingress bool `json:"ingress,omitempty"`
}

// redirectPrio is the priority of banger's tc filters on an ingress
// qdisc in a namespace: what marks a filter as banger's (tc actions in
// vishvananda/netlink carry no cookie).
const redirectPrio = 0xba9

// The operations on a namespace's links besides opAddTap (without a
// bridge) and opDelLink.
type (
	// opAddIngress / opDelIngress add and delete a link's ingress qdisc.
	opAddIngress struct{ Link string }
	opDelIngress struct{ Link string }
	// opAddRedirect makes everything From receives leave through To
	// (u32 match-all at redirectPrio, mirred egress redirect).
	opAddRedirect struct{ From, To string }
	// opDelRedirect deletes banger's filter from Link's ingress.
	opDelRedirect struct{ Link string }
)

func (o opAddIngress) String() string { return "tc qdisc add dev " + o.Link + " ingress" }
func (o opDelIngress) String() string { return "tc qdisc del dev " + o.Link + " ingress" }
func (o opAddRedirect) String() string {
	return fmt.Sprintf("tc filter add dev %s parent ffff: prio %d protocol all u32 match u32 0 0 action mirred egress redirect dev %s", o.From, redirectPrio, o.To)
}
func (o opDelRedirect) String() string {
	return fmt.Sprintf("tc filter del dev %s parent ffff: prio %d", o.Link, redirectPrio)
}

// nsState is what Attach and Detach observe in a namespace.
type nsState struct {
	Links  []nsLink
	Routes []nsRoute
}

// nsLink is one link in a namespace.
type nsLink struct {
	Name     string
	Loopback bool
	MAC      string
	MTU      int
	// Addrs are its IPv4 addresses.
	Addrs []netip.Prefix
	// Ingress says it has an ingress qdisc; Redirect that banger's filter
	// is on it; Filters counts the other filters there.
	Ingress  bool
	Redirect bool
	Filters  int
}

// nsRoute is one IPv4 route of the namespace's main table; Dst is
// 0.0.0.0/0 for the default route.
type nsRoute struct {
	Dst     netip.Prefix
	Gateway netip.Addr
	Dev     string
}

func (st nsState) link(name string) (nsLink, bool) {
	i := slices.IndexFunc(st.Links, func(l nsLink) bool { return l.Name == name })
	if i < 0 {
		return nsLink{}, false
	}
	return st.Links[i], true
}

// netnsPlan is an attachment worked out from a namespace's state: what
// to record, what the guest takes, and the changes to make.
type netnsPlan struct {
	Handles NetnsHandles
	Guest   Lease
	Ops     []linkOp
}

// planNetnsAttach joins a tap for vmID to the target interface: the tap
// (a stale one of this VM replaced), an ingress qdisc on each (the
// interface's only when it has none), and a redirect each way — the
// interface's last, so the namespace's own stack keeps its traffic until
// the tap can take it. The guest takes the interface's first IPv4
// address, its default route's gateway, MTU and MAC: the peer's ARP
// entries and the CNI's bookkeeping stay right. A namespace holding
// another VM's tap is refused.
func planNetnsAttach(vmID string, t NetnsTarget, st nsState, uid, gid int) (netnsPlan, error) {
	tap := TapName(vmID)
	var cands, names []string
	for _, l := range st.Links {
		switch {
		case strings.HasPrefix(l.Name, TapPrefix) && l.Name != tap:
			return netnsPlan{}, fmt.Errorf("network namespace %s: %w: it holds tap %s of another banger VM; one VM per namespace", t.Path, errdefs.ErrConflict, l.Name)
		case l.Loopback || l.Name == tap:
		default:
			cands = append(cands, l.Name)
		}
		names = append(names, l.Name)
	}
	name := t.Iface
	switch {
	case name != "" && !slices.Contains(cands, name):
		return netnsPlan{}, fmt.Errorf("network namespace %s: interface %s: %w (it has %s)", t.Path, name, errdefs.ErrNotFound, strings.Join(names, ", "))
	case name == "" && len(cands) != 1:
		return netnsPlan{}, fmt.Errorf("network namespace %s: %w: want exactly one interface besides loopback, found %d (%s); name one: netns:%s:IFACE", t.Path, errdefs.ErrInvalid, len(cands), strings.Join(cands, ", "), t.Path)
	case name == "":
		name = cands[0]
	}
	veth, _ := st.link(name)
	if len(veth.Addrs) == 0 {
		return netnsPlan{}, fmt.Errorf("network namespace %s: interface %s has no IPv4 address for the guest to take: %w; attach after the CNI configured it", t.Path, name, errdefs.ErrInvalid)
	}
	mac, err := net.ParseMAC(veth.MAC)
	if err != nil || len(mac) != 6 {
		return netnsPlan{}, fmt.Errorf("network namespace %s: interface %s has no Ethernet address (%q): %w; the guest needs one to take", t.Path, name, veth.MAC, errdefs.ErrInvalid)
	}
	var gw netip.Addr
	for _, r := range st.Routes {
		if r.Dev == name && r.Dst.Bits() == 0 && r.Gateway.IsValid() {
			gw = r.Gateway
			break
		}
	}
	p := netnsPlan{
		Handles: NetnsHandles{Path: t.Path, Tap: tap, Veth: name, Ingress: !veth.Ingress},
		Guest: Lease{
			VMID: vmID, IP: veth.Addrs[0].Addr(), Subnet: veth.Addrs[0].Masked(), Gateway: gw,
			MAC: mac.String(), Tap: tap, MTU: veth.MTU, Netns: t.Path,
		},
	}
	if veth.Redirect {
		p.Ops = append(p.Ops, opDelRedirect{Link: name})
	}
	if _, ok := st.link(tap); ok {
		p.Ops = append(p.Ops, opDelLink{Name: tap})
	}
	p.Ops = append(p.Ops, opAddTap{Name: tap, MTU: veth.MTU, UID: uid, GID: gid})
	if !veth.Ingress {
		p.Ops = append(p.Ops, opAddIngress{Link: name})
	}
	p.Ops = append(p.Ops, opAddIngress{Link: tap}, opAddRedirect{From: tap, To: name}, opAddRedirect{From: name, To: tap})
	return p, nil
}

// netnsDetachOps undoes an attachment from what the namespace holds:
// banger's filters (on any link but the tap, which goes whole), the
// veth's ingress qdisc when banger added it and nothing else filters
// there, and the tap.
func netnsDetachOps(h NetnsHandles, st nsState) []linkOp {
	var ops []linkOp
	for _, l := range st.Links {
		if l.Redirect && l.Name != h.Tap {
			ops = append(ops, opDelRedirect{Link: l.Name})
		}
	}
	if v, ok := st.link(h.Veth); ok && h.Ingress && v.Ingress && v.Filters == 0 {
		ops = append(ops, opDelIngress{Link: h.Veth})
	}
	if _, ok := st.link(h.Tap); ok {
		ops = append(ops, opDelLink{Name: h.Tap})
	}
	return ops
}
