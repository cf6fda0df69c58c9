package netplan

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
)

// inNamespace runs fn in a network namespace of its own holding one NIC
// (a tap: this host's kernel has no dummy links) named name with address
// mac. The namespace belongs to this test's thread, which is never
// unlocked, so it dies with it.
func inNamespace(t *testing.T, name, mac string, fn func()) {
	t.Helper()
	testutil.RequireRoot(t)
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = orig.Close() }()
	ns, err := netns.New()
	if err != nil {
		testutil.Skip(t, fmt.Sprintf("cannot create a network namespace: %v", err))
	}
	defer func() { _ = ns.Close() }()
	hw, _ := net.ParseMAC(mac)
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TAP}
	if err := netlink.LinkAdd(tap); err != nil {
		t.Fatal(err)
	}
	for _, f := range tap.Fds {
		defer func() { _ = f.Close() }()
	}
	l0, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetHardwareAddr(l0, hw); err != nil {
		t.Fatal(err)
	}
	fn()
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
}

// checkLink fails unless the link has the MAC, MTU, address and default
// route of n, and lo is up.
func checkLink(t *testing.T, name string, n *bootcfg.Network) {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Attrs().HardwareAddr.String(); got != n.MAC {
		t.Errorf("%s: MAC %s, want %s", name, got, n.MAC)
	}
	if l.Attrs().MTU != n.MTU || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s: mtu %d flags %v", name, l.Attrs().MTU, l.Attrs().Flags)
	}
	addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != n.Address.String() {
		t.Errorf("addresses %v, want %v", addrs, n.Address)
	}
	routes, _ := netlink.RouteList(l, netlink.FAMILY_V4)
	found := false
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == n.Gateway.String() {
			found = true
		}
	}
	if !found {
		t.Errorf("no default route via %v in %v", n.Gateway, routes)
	}
	lo, _ := netlink.LinkByName("lo")
	if lo.Attrs().Flags&net.FlagUp == 0 {
		t.Error("lo is down")
	}
}

// The plan applied through real netlink, in a network namespace of its own
// holding a NIC found by its MAC.
func TestNetlinkAppliesPlanInANamespace(t *testing.T) {
	n := &bootcfg.Network{
		MAC: "06:00:0a:58:00:09", Address: netip.MustParsePrefix("10.77.0.9/24"),
		Gateway: netip.MustParseAddr("10.77.0.1"), MTU: 1400,
	}
	inNamespace(t, "nic7", n.MAC, func() {
		if err := Apply(Plan(n), Netlink{}); err != nil {
			t.Fatal(err)
		}
		if err := Apply(Plan(n), Netlink{}); err != nil { // a second boot step is harmless
			t.Fatalf("re-applying: %v", err)
		}
		checkLink(t, "nic7", n)
	})
}

// A /32 with a gateway outside it (Calico's pods: 169.254.1.1) gets its
// default route onlink.
func TestNetlinkRouteToAGatewayOutsideTheSubnet(t *testing.T) {
	n := &bootcfg.Network{
		MAC: "06:00:0a:58:00:0b", Address: netip.MustParsePrefix("10.77.0.11/32"),
		Gateway: netip.MustParseAddr("169.254.1.1"), MTU: 1500,
	}
	inNamespace(t, "nic9", n.MAC, func() {
		if err := Apply(Plan(n), Netlink{}); err != nil {
			t.Fatal(err)
		}
		checkLink(t, "nic9", n)
	})
}

// A held boot's plan through real netlink: the NIC still has another
// VM's MAC and is not named eth0; as the only ethernet NIC it is the one,
// and it ends with the config's MAC and address.
func TestNetlinkAppliesHeldPlanInANamespace(t *testing.T) {
	n := &bootcfg.Network{
		MAC: "06:00:0a:58:00:0a", Address: netip.MustParsePrefix("10.77.0.10/24"),
		Gateway: netip.MustParseAddr("10.77.0.1"), MTU: 1500,
	}
	inNamespace(t, "nic8", "06:00:0a:58:00:77", func() {
		if err := Apply(HeldPlan(n), Netlink{}); err != nil {
			t.Fatal(err)
		}
		checkLink(t, "nic8", n)
	})
}

// A fork's re-identify through real netlink: the NIC configured as the
// source VM (its MAC, address, routes) ends with only the new VM's — no
// address or route of the source's is left.
func TestNetlinkAppliesReidentifyPlanInANamespace(t *testing.T) {
	old := &bootcfg.Network{
		MAC: "06:00:0a:58:00:0b", Address: netip.MustParsePrefix("10.77.0.11/24"),
		Gateway: netip.MustParseAddr("10.77.0.1"), MTU: 1500,
	}
	n := &bootcfg.Network{
		MAC: "06:00:0a:58:00:0c", Address: netip.MustParsePrefix("10.78.0.12/24"),
		Gateway: netip.MustParseAddr("10.78.0.1"), MTU: 1400,
	}
	inNamespace(t, "nic9", old.MAC, func() {
		if err := Apply(Plan(old), Netlink{}); err != nil {
			t.Fatal(err)
		}
		l, _ := netlink.LinkByName("nic9")
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.79.0.5"), Mask: net.CIDRMask(16, 32)}}); err != nil {
			t.Fatal(err)
		}
		if err := Apply(ReidentifyPlan(n), Netlink{}); err != nil {
			t.Fatal(err)
		}
		checkLink(t, "nic9", n)
		routes, _ := netlink.RouteList(l, netlink.FAMILY_V4)
		for _, r := range routes {
			if r.Gw.Equal(net.IP(old.Gateway.AsSlice())) || (r.Dst != nil && !r.Dst.Contains(net.IP(n.Address.Addr().AsSlice()))) {
				t.Errorf("a route of the old identity is left: %v", r)
			}
		}
	})
}
