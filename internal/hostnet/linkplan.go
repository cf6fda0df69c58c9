package hostnet

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// linkOp is one privileged change to links, addresses or sysctls, as data.
// String is the equivalent `ip`/`sysctl` command, for tests and logs.
type linkOp interface{ String() string }

// The link operations the edge knows how to run.
type (
	// opAddBridge creates the bridge.
	opAddBridge struct {
		Name string
		MTU  int
		MAC  net.HardwareAddr
	}
	// opBridgeSettings sets MTU and MAC of an existing bridge.
	opBridgeSettings struct {
		Name string
		MTU  int
		MAC  net.HardwareAddr
	}
	// opAddrAdd / opAddrDel manage the bridge's IPv4 addresses.
	opAddrAdd struct {
		Link string
		Addr netip.Prefix
	}
	opAddrDel struct {
		Link string
		Addr netip.Prefix
	}
	// opLinkUp brings a link up.
	opLinkUp struct{ Name string }
	// opSysctl writes one value under /proc/sys; Path uses slashes
	// (sysctl(8) accepts that form too), so interface names with dots
	// stay unambiguous.
	opSysctl struct{ Path, Value string }
	// opAddTap creates a persistent tap, owned by uid/gid, with the MTU,
	// enslaved to the bridge with port isolation set (no bridge: in a
	// namespace, Namespaces.Attach), and up.
	opAddTap struct {
		Name     string
		Bridge   string
		MTU      int
		Isolated bool
		UID, GID int
	}
	// opSetIsolated sets a bridge port's isolation flag.
	opSetIsolated struct {
		Name     string
		Isolated bool
	}
	// opDelLink deletes a link (a missing link is not an error).
	opDelLink struct{ Name string }
	// opSetAlias sets a link's alias (ifalias): the bridge's owner mark.
	opSetAlias struct{ Name, Alias string }
)

func (o opAddBridge) String() string {
	return fmt.Sprintf("ip link add %s type bridge mtu %d address %s", o.Name, o.MTU, o.MAC)
}
func (o opBridgeSettings) String() string {
	return fmt.Sprintf("ip link set %s mtu %d address %s", o.Name, o.MTU, o.MAC)
}
func (o opAddrAdd) String() string { return fmt.Sprintf("ip addr add %s dev %s", o.Addr, o.Link) }
func (o opAddrDel) String() string { return fmt.Sprintf("ip addr del %s dev %s", o.Addr, o.Link) }
func (o opLinkUp) String() string  { return fmt.Sprintf("ip link set %s up", o.Name) }
func (o opSysctl) String() string  { return fmt.Sprintf("sysctl -w %s=%s", o.Path, o.Value) }
func (o opAddTap) String() string {
	if o.Bridge == "" {
		return fmt.Sprintf("ip tuntap add %s mode tap vnet_hdr user %d group %d; ip link set %s mtu %d up", o.Name, o.UID, o.GID, o.Name, o.MTU)
	}
	return fmt.Sprintf("ip tuntap add %s mode tap vnet_hdr user %d group %d; ip link set %s mtu %d master %s up; bridge link set dev %s isolated %s",
		o.Name, o.UID, o.GID, o.Name, o.MTU, o.Bridge, o.Name, onOff(o.Isolated))
}
func (o opSetIsolated) String() string {
	return fmt.Sprintf("bridge link set dev %s isolated %s", o.Name, onOff(o.Isolated))
}
func (o opDelLink) String() string  { return "ip link del " + o.Name }
func (o opSetAlias) String() string { return fmt.Sprintf("ip link set %s alias %q", o.Name, o.Alias) }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// hostState is what Setup and Attach observe before planning.
type hostState struct {
	Bridge *bridgeState
	// Taps are banger's taps (by name) with their bridge and isolation.
	Taps      []TapInfo
	IPForward string
	Routes    []Route
	// LocalAddrs are the host's IPv4 addresses (a resolver on one of
	// them is unreachable for guests, as input from the bridge is
	// dropped).
	LocalAddrs []netip.Addr
	// UserBridges are the user networks' bridges ("bn-"), any daemon's,
	// by name, with their alias (the owner mark).
	UserBridges map[string]string
}

type bridgeState struct {
	Index int
	MTU   int
	MAC   net.HardwareAddr
	Up    bool
	Addrs []netip.Prefix // IPv4 only
	// Alias is the owner mark (OwnerMark), or whatever else it says.
	Alias string
}

// Route is one IPv4 route of the main table.
type Route struct {
	Dst netip.Prefix
	Dev string
}

// setupOps brings the host from st to what cfg describes: the bridge with
// its pinned MAC, MTU, owner mark and gateway address (stale IPv4
// addresses removed),
// forwarding on, route_localnet on the bridge (the 127.0.0.1 path of
// published ports), and every tap on the bridge isolated as configured.
func setupOps(c netConfig, st hostState) []linkOp {
	mac := bridgeMAC(c.Bridge)
	var ops []linkOp
	if st.Bridge == nil {
		ops = append(ops, opAddBridge{Name: c.Bridge, MTU: c.MTU, MAC: mac}, opAddrAdd{Link: c.Bridge, Addr: c.GatewayPrefix()})
	} else {
		b := st.Bridge
		if b.MTU != c.MTU || b.MAC.String() != mac.String() {
			ops = append(ops, opBridgeSettings{Name: c.Bridge, MTU: c.MTU, MAC: mac})
		}
		for _, a := range b.Addrs {
			if a != c.GatewayPrefix() {
				ops = append(ops, opAddrDel{Link: c.Bridge, Addr: a})
			}
		}
		if !slices.Contains(b.Addrs, c.GatewayPrefix()) {
			ops = append(ops, opAddrAdd{Link: c.Bridge, Addr: c.GatewayPrefix()})
		}
	}
	if c.Owner != "" && (st.Bridge == nil || st.Bridge.Alias != OwnerMark(c.Owner)) {
		ops = append(ops, opSetAlias{Name: c.Bridge, Alias: OwnerMark(c.Owner)})
	}
	if st.Bridge == nil || !st.Bridge.Up {
		ops = append(ops, opLinkUp{Name: c.Bridge})
	}
	if st.IPForward != "1" {
		ops = append(ops, opSysctl{Path: sysctlIPForward, Value: "1"})
	}
	ops = append(ops, opSysctl{Path: routeLocalnet(c.Bridge), Value: "1"})
	for _, t := range st.Taps {
		if t.Bridge == c.Bridge && t.Isolated != c.IsolateVMs {
			ops = append(ops, opSetIsolated{Name: t.Name, Isolated: c.IsolateVMs})
		}
	}
	return ops
}

// attachOps creates the VM's tap, replacing a stale one left by a crash.
func attachOps(c netConfig, vmID string, st hostState) []linkOp {
	tap := TapName(vmID)
	var ops []linkOp
	if slices.ContainsFunc(st.Taps, func(t TapInfo) bool { return t.Name == tap }) {
		ops = append(ops, opDelLink{Name: tap})
	}
	return append(ops, opAddTap{Name: tap, Bridge: c.Bridge, MTU: c.MTU, Isolated: c.IsolateVMs, UID: c.TapUID, GID: c.TapGID})
}

const sysctlIPForward = "net/ipv4/ip_forward"

func routeLocalnet(bridge string) string { return "net/ipv4/conf/" + bridge + "/route_localnet" }
