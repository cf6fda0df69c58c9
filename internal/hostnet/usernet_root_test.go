//go:build linux

package hostnet

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// userNetEnv makes user networks of the root env's network, removed (as
// objects named after their ids) whatever the test does.
func userNetEnv(t *testing.T, def *Network, names NameFunc) *Network {
	t.Helper()
	id := randHex(t, 16)
	x, _ := rand.Int(rand.Reader, big.NewInt(250))
	y, _ := rand.Int(rand.Reader, big.NewInt(3))
	subnet := netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 221+y.Int64(), x.Int64()))
	u, err := def.ForUser(id, subnet, names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = u.Close()
		_ = exec.Command("nft", "delete", "table", "inet", u.Table()).Run()   //nolint:noctx // cleanup
		_ = exec.Command("nft", "delete", "table", "bridge", u.Table()).Run() //nolint:noctx // cleanup
		_ = exec.Command("ip", "link", "del", u.Bridge()).Run()               //nolint:noctx // cleanup
	})
	return u
}

// TestRootUserNetworkObjects: a user network's Setup makes exactly its
// bridge (not isolated, marked as this daemon's), its tables and its
// relay on the gateway, and Teardown leaves none of them, nor the
// default network's objects touched.
func TestRootUserNetworkObjects(t *testing.T) {
	e := newRootEnv(t)
	ctx := context.Background()
	def := e.network(t)
	if err := def.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	u := userNetEnv(t, def, func(string) []netip.Addr { return nil })
	if err := u.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := u.Setup(ctx); err != nil { // idempotent, as at every daemon start
		t.Fatal(err)
	}
	if !linkExists(u.Bridge()) || !strings.Contains(run(t, "ip", "-4", "addr", "show", "dev", u.Bridge()), u.Gateway().String()+"/24") {
		t.Fatalf("bridge %s with %s: not there", u.Bridge(), u.Gateway())
	}
	got := nftText(t, u.Table())
	for _, want := range []string{`iifname != "` + u.Bridge() + `" oifname "` + u.Bridge() + `" drop`, "udp dport 53 accept", "table bridge " + u.Table()} {
		if !strings.Contains(got, want) {
			t.Errorf("nft table %s lacks %q:\n%s", u.Table(), want, got)
		}
	}
	if l, err := u.Lease(ctx, e.vmID("x")); err != nil || !u.Subnet().Contains(l.IP) || len(l.DNS) != 1 || l.DNS[0] != u.Gateway() {
		t.Fatalf("lease on the user network: %+v %v; want an address of %s and the gateway as resolver", l, err, u.Subnet())
	}
	if err := u.Release(ctx, e.vmID("x")); err != nil {
		t.Fatal(err)
	}
	if err := u.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if linkExists(u.Bridge()) || nftText(t, u.Table()) != "" {
		t.Fatalf("teardown left the bridge or a table of %s", u.Bridge())
	}
	if !linkExists(e.cfg.Bridge) || nftText(t, e.cfg.NftTable) == "" {
		t.Fatal("a user network's teardown touched the default network")
	}

	// gc's view: a user network's bridge is found on the host without
	// any record, and removed with its tables by its name alone.
	mine := e.restart(t, def, WithOwner(e.dir))
	if err := mine.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	orphan := userNetEnv(t, mine, nil)
	if err := orphan.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	found, err := mine.UserBridges(ctx)
	if err != nil || !slices.Contains(found, orphan.Bridge()) {
		t.Fatalf("user bridges %v %v; want %s", found, err, orphan.Bridge())
	}
	if err := mine.RemoveUserBridge(ctx, orphan.Bridge()); err != nil {
		t.Fatal(err)
	}
	if linkExists(orphan.Bridge()) || nftText(t, orphan.Table()) != "" {
		t.Fatalf("RemoveUserBridge left %s or its table", orphan.Bridge())
	}
}

// TestRootUserNetworks boots three real guests: a1 and a2 on network A,
// b1 on network B. a1 reaches a2 by its name and its alias (the relay on
// A's gateway answers them); b1 cannot reach a2 even routed through its
// gateway, and B's relay does not answer A's names.
func TestRootUserNetworks(t *testing.T) {
	if testing.Short() {
		t.Skip("boots three VMs; skipped in -short mode")
	}
	e := newRootEnv(t)
	kernel := guestKernel(t)
	initrd := guestInitrd(t, kernel)
	ctx := context.Background()
	nop := func(Resources) error { return nil }
	def := e.network(t)
	if err := def.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	onA := map[string][]netip.Addr{}
	a := userNetEnv(t, def, func(n string) []netip.Addr { mu.Lock(); defer mu.Unlock(); return onA[n] })
	b := userNetEnv(t, def, nil)
	for _, u := range []*Network{a, b} {
		if err := u.Setup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]string{"a1": e.vmID("a1"), "a2": e.vmID("a2"), "b1": e.vmID("b1")}
	t.Cleanup(func() {
		for _, id := range ids {
			_ = exec.Command("ip", "link", "del", TapName(id)).Run() //nolint:noctx // cleanup
		}
	})
	guests := map[string]*guest{}
	leases := map[string]Lease{}
	for _, name := range []string{"a1", "a2", "b1"} {
		n := a
		if name == "b1" {
			n = b
		}
		att, err := n.Attach(ctx, ids[name], nil, nop)
		if err != nil {
			t.Fatal(err)
		}
		leases[name] = att.Lease
		guests[name] = startGuest(t, kernel, initrd, guestSpecOf(name, att.Lease))
	}
	mu.Lock()
	onA["a2"], onA["db-alias"] = []netip.Addr{leases["a2"].IP}, []netip.Addr{leases["a2"].IP}
	mu.Unlock()
	for _, g := range guests {
		g.ready(t)
	}
	ipA2 := leases["a2"].IP.String()
	if o, st := guests["a2"].sh(t, "mkdir -p /www && echo hello-from-a2 > /www/index.html && httpd -p 80 -h /www"); st != 0 {
		t.Fatalf("httpd in a2: %d %s", st, o)
	}
	for name, g := range guests {
		if o, st := g.sh(t, "mkdir -p /etc && echo nameserver "+leases[name].DNS[0].String()+" > /etc/resolv.conf"); st != 0 {
			t.Fatalf("resolv.conf in %s: %s", name, o)
		}
	}

	t.Run("same network: by address, name and alias", func(t *testing.T) {
		for _, host := range []string{ipA2, "a2", "db-alias"} {
			if o, st := guests["a1"].sh(t, "timeout 10 wget -q -O - http://"+host+"/"); st != 0 || o != "hello-from-a2" {
				t.Errorf("a1 fetching http://%s/: %d %q", host, st, o)
			}
		}
		o, st := guests["a1"].sh(t, "nslookup -type=a db-alias "+a.Gateway().String())
		if st != 0 || !strings.Contains(o, "Address: "+ipA2) {
			t.Errorf("nslookup db-alias on A: %d\n%s", st, o)
		}
	})
	t.Run("other network: unreachable, names unknown", func(t *testing.T) {
		o, st := guests["b1"].sh(t, "timeout 3 wget -q -O - http://"+ipA2+"/")
		if st != 1 && st != 143 {
			t.Errorf("b1 fetching a2 across networks: %d %q; want it blocked", st, o)
		}
		if o, st := guests["b1"].sh(t, "timeout 3 ping -c 1 -W 2 "+a.Gateway().String()); st == 0 {
			t.Errorf("b1 pinged A's gateway:\n%s", o)
		}
		o, _ = guests["b1"].sh(t, "timeout 5 nslookup -type=a a2 "+b.Gateway().String())
		if strings.Contains(o, ipA2) {
			t.Errorf("B's relay answered A's name:\n%s", o)
		}
	})

	for name, g := range guests {
		g.kill()
		n := a
		if name == "b1" {
			n = b
		}
		if err := n.Detach(ctx, ids[name]); err != nil {
			t.Fatal(err)
		}
		if err := n.Release(ctx, ids[name]); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []*Network{a, b} {
		if err := u.Teardown(ctx); err != nil {
			t.Fatal(err)
		}
		if linkExists(u.Bridge()) || nftText(t, u.Table()) != "" {
			t.Errorf("teardown left %s or its table", u.Bridge())
		}
	}
	for _, id := range ids {
		if linkExists(TapName(id)) {
			t.Errorf("tap %s left", TapName(id))
		}
	}
}
