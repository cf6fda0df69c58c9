package netplan

import (
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
)

// The plan applied through real netlink, in a network namespace of its own
// holding a dummy NIC found by its MAC.
func TestNetlinkAppliesPlanInANamespace(t *testing.T) {
	testutil.RequireRoot(t)
	runtime.LockOSThread() // the namespace belongs to this thread; never unlocked, so it dies with it
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = orig.Close() }()
	ns, err := netns.New()
	if err != nil {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	defer func() { _ = ns.Close() }()
	mac, _ := net.ParseMAC("06:00:0a:58:00:09")
	// A tap stands in for the NIC (this host's kernel has no dummy links);
	// it dies with the namespace.
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "nic7"}, Mode: netlink.TUNTAP_MODE_TAP}
	if err := netlink.LinkAdd(tap); err != nil {
		t.Fatal(err)
	}
	for _, f := range tap.Fds {
		defer func() { _ = f.Close() }()
	}
	l0, err := netlink.LinkByName("nic7")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetHardwareAddr(l0, mac); err != nil {
		t.Fatal(err)
	}
	n := &bootcfg.Network{
		MAC: "06:00:0a:58:00:09", Address: netip.MustParsePrefix("10.77.0.9/24"),
		Gateway: netip.MustParseAddr("10.77.0.1"), MTU: 1400,
	}
	if err := Apply(Plan(n), Netlink{}); err != nil {
		t.Fatal(err)
	}
	if err := Apply(Plan(n), Netlink{}); err != nil { // a second boot step is harmless
		t.Fatalf("re-applying: %v", err)
	}
	l, err := netlink.LinkByName("nic7")
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().MTU != 1400 || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("nic7: mtu %d flags %v", l.Attrs().MTU, l.Attrs().Flags)
	}
	addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.77.0.9/24" {
		t.Errorf("addresses %v", addrs)
	}
	routes, _ := netlink.RouteList(l, netlink.FAMILY_V4)
	found := false
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.String() == "10.77.0.1" {
			found = true
		}
	}
	if !found {
		t.Errorf("no default route via 10.77.0.1 in %v", routes)
	}
	lo, _ := netlink.LinkByName("lo")
	if lo.Attrs().Flags&net.FlagUp == 0 {
		t.Error("lo is down")
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
}
