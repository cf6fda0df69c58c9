//go:build linux

package hostnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// TestNamespacesRoot attaches a VM id to a namespace a test made (as a
// CNI plugin leaves a pod's), checks the tap and both redirects exist
// with tc's own eyes and that the guest would take the veth's address,
// then detaches and checks the namespace holds exactly what it held.
func TestNamespacesRoot(t *testing.T) {
	testutil.RequireRoot(t)
	p := testutil.NewNetnsPair(t, fmt.Sprint(os.Getpid()%100000))
	before := testutil.NetnsView(t, p.A)
	x := NewNamespaces(WithTapOwner(1234, 1235))
	const vmID = "abcdef012345"
	var recorded []NetnsHandles
	lease, err := x.Attach(context.Background(), vmID, NetnsTarget{Path: p.PathA()}, func(h NetnsHandles) error {
		recorded = append(recorded, h)
		// Record, then create: nothing is there yet.
		if strings.Contains(testutil.IP(t, "-n", p.A, "link"), "bg-") {
			t.Error("the tap exists before the record")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 1 || recorded[0].Tap != "bg-"+vmID || recorded[0].Veth != p.VethA || !recorded[0].Ingress || recorded[0].Inode == 0 {
		t.Fatalf("recorded %+v", recorded)
	}
	mac := linkMAC(t, p.A, p.VethA)
	if lease.IP.String() != p.AddrA || lease.Subnet.Bits() != 24 || lease.Gateway.String() != p.AddrB || lease.MAC != mac || lease.Tap != "bg-"+vmID || lease.Netns != p.PathA() || lease.MTU != 1500 {
		t.Errorf("lease %+v, want %s/24 via %s, mac %s, mtu 1500", lease, p.AddrA, p.AddrB, mac)
	}
	tap := testutil.IP(t, "-n", p.A, "-d", "link", "show", "bg-"+vmID)
	for _, want := range []string{"UP", "tun type tap", "user 1234 group 1235", "mtu 1500"} {
		if !strings.Contains(tap, want) {
			t.Errorf("tap: want %q in\n%s", want, tap)
		}
	}
	for dev, to := range map[string]string{p.VethA: "bg-" + vmID, "bg-" + vmID: p.VethA} {
		f := testutil.TC(t, p.A, "filter", "show", "dev", dev, "ingress")
		if want := "Egress Redirect to device " + to; !strings.Contains(f, want) || !strings.Contains(f, "pref 2985") {
			t.Errorf("filters of %s: want %q at pref 2985 in\n%s", dev, want, f)
		}
	}
	// The tap's counters, which /sys/class/net of the host does not show.
	if _, _, err := x.Counter(p.PathA(), "bg-"+vmID).NetBytes(); err != nil {
		t.Errorf("counters of the tap: %v", err)
	}
	if _, _, err := x.Counter(p.PathA(), "bg-none").NetBytes(); err == nil {
		t.Error("counters of a tap that does not exist")
	}
	if left, err := x.Leftovers(context.Background(), recorded[0]); err != nil || len(left) != 3 {
		t.Errorf("leftovers while attached: %q, %v; want the filter, the qdisc and the tap", left, err)
	}
	// A second VM in the same namespace is refused, naming the first.
	if _, err := x.Attach(context.Background(), "0123456789ab", NetnsTarget{Path: p.PathA()}, func(NetnsHandles) error { return nil }); err == nil || !strings.Contains(err.Error(), "bg-"+vmID) {
		t.Errorf("second attach: %v", err)
	}
	// Released from the record alone.
	for range 2 {
		if err := x.Detach(context.Background(), recorded[0]); err != nil {
			t.Fatal(err)
		}
	}
	if after := testutil.NetnsView(t, p.A); after != before {
		t.Errorf("the namespace changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if left, err := x.Leftovers(context.Background(), recorded[0]); err != nil || len(left) != 0 {
		t.Errorf("leftovers: %q, %v", left, err)
	}
}

// TestNamespacesKeepOthersQdisc: an ingress qdisc the veth had (with
// someone else's filter) stays, with that filter, after a detach; a
// /proc/PID/ns/net path works; a namespace recreated under the recorded
// path is left alone; Sweep finds a tap by the VM id alone.
func TestNamespacesKeepOthersQdisc(t *testing.T) {
	testutil.RequireRoot(t)
	p := testutil.NewNetnsPair(t, fmt.Sprint(os.Getpid()%100000+1))
	testutil.TC(t, p.A, "qdisc", "add", "dev", p.VethA, "ingress")
	testutil.TC(t, p.A, "filter", "add", "dev", p.VethA, "ingress", "prio", "7", "protocol", "ip", "u32", "match", "ip", "dst", "192.0.2.1/32", "flowid", ":1")
	before := testutil.NetnsView(t, p.A)
	sleeper := exec.Command("ip", "netns", "exec", p.A, "sleep", "60") //nolint:noctx // killed below
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	path := fmt.Sprintf("/proc/%d/ns/net", sleeper.Process.Pid)
	waitNetns(t, path, p.PathA())
	x := NewNamespaces()
	var h NetnsHandles
	if _, err := x.Attach(context.Background(), "feedfacecafe", NetnsTarget{Path: path, Iface: p.VethA}, func(r NetnsHandles) error { h = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if h.Ingress {
		t.Error("recorded the veth's existing ingress qdisc as banger's")
	}
	if err := x.Detach(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if after := testutil.NetnsView(t, p.A); after != before {
		t.Errorf("the namespace changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	// Sweep, by the VM id alone, over the namespaces ip netns knows.
	if _, err := x.Attach(context.Background(), "feedfacecafe", NetnsTarget{Path: p.PathA()}, func(r NetnsHandles) error { h = r; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := x.Sweep(context.Background(), "feedfacecafe"); err != nil {
		t.Fatal(err)
	}
	if after := testutil.NetnsView(t, p.A); after != before {
		t.Errorf("after Sweep the namespace changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	// The recorded path now names another namespace: left alone.
	testutil.IP(t, "netns", "del", p.A)
	testutil.IP(t, "netns", "add", p.A)
	testutil.IP(t, "-n", p.A, "tuntap", "add", "bg-feedfacecafe", "mode", "tap")
	if err := x.Detach(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(testutil.IP(t, "-n", p.A, "link"), "bg-feedfacecafe") {
		t.Error("Detach reached into a namespace recreated under the recorded path")
	}
}

func linkMAC(t *testing.T, ns, link string) string {
	t.Helper()
	f := strings.Fields(testutil.IP(t, "-n", ns, "-br", "link", "show", link))
	if len(f) < 3 {
		t.Fatalf("ip -br link show %s: %q", link, f)
	}
	return f[2]
}

// waitNetns waits until the process behind path has entered the
// namespace at want (ip netns exec sets it before exec).
func waitNetns(t *testing.T, path, want string) {
	t.Helper()
	w, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if st, err := os.Stat(path); err == nil && os.SameFile(st, w) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never entered %s", path, want)
}
