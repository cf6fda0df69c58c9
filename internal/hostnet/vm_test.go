//go:build linux

package hostnet

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func guestSpecOf(name string, l Lease) guestSpec {
	return guestSpec{Name: name, Tap: l.Tap, MAC: l.MAC, Addr: l.Address().String(), Gateway: l.Gateway.String(), MTU: l.MTU}
}

// hostService listens on addr like any host daemon (sshd, banger's API):
// guests must not reach it.
func hostService(t *testing.T, addr netip.Addr) string {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("host service\n"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// TestVMNetworking boots two real guests on banger's bridge and puts real
// traffic through every path: NAT to the outside, isolation between
// guests and from host services, published ports from the host (its
// address and 127.0.0.1) and from outside, the DNS forwarder, restarts,
// and leaving nothing behind.
func TestVMNetworking(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two VMs; skipped in -short mode")
	}
	e := newRootEnv(t)
	kernel := guestKernel(t)
	initrd := guestInitrd(t, kernel)
	out := newOutside(t, e.suffix)
	out.serveHTTP(t)
	ctx := context.Background()
	nop := func(Resources) error { return nil }
	host := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	n := e.network(t)
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := e.vmID("a"), e.vmID("b")
	t.Cleanup(func() { // taps outlive a failed test otherwise
		for _, id := range []string{a, b} {
			_ = exec.Command("ip", "link", "del", TapName(id)).Run() //nolint:noctx // cleanup
		}
	})
	port := freePort(t)
	attA, err := n.Attach(ctx, a, nil, nop)
	if err != nil {
		t.Fatal(err)
	}
	attB, err := n.Attach(ctx, b, []Port{{HostPort: port, GuestPort: 80}}, nop)
	if err != nil {
		t.Fatal(err)
	}
	ga := startGuest(t, kernel, initrd, guestSpecOf("a", attA.Lease))
	gb := startGuest(t, kernel, initrd, guestSpecOf("b", attB.Lease))
	ga.ready(t)
	gb.ready(t)
	gw, ipB := n.Gateway().String(), attB.Lease.IP.String()

	if o, st := gb.sh(t, "mkdir -p /www && echo hello-from-b > /www/index.html && httpd -p 80 -h /www"); st != 0 {
		t.Fatalf("httpd in guest b: %d %s", st, o)
	}
	// busybox 1.35's wget crashes with -T, hence timeout(1). A blocked
	// fetch must fail as blocked (no answer: killed by timeout, 143;
	// refused or unreachable: 1), never as a crash that would pass for one.
	fetch := func(g *guest, url string) (string, int) {
		return g.sh(t, "timeout 10 wget -q -O - "+url)
	}
	blocked := func(t *testing.T, g *guest, url string) {
		t.Helper()
		o, st := g.sh(t, "timeout 3 wget -q -O - "+url)
		if st != 1 && st != 143 {
			t.Fatalf("guest %s fetching %s: status %d %q; want it blocked (1 or 143)", g.name, url, st, o)
		}
	}

	t.Run("nat to the outside", func(t *testing.T) {
		o, st := fetch(ga, "http://"+out.nsAddr.String()+"/")
		if want := "outside saw " + out.hostAddr.String(); st != 0 || !strings.Contains(o, want) {
			t.Fatalf("guest a fetching the outside: status %d, %q; want %q (masqueraded to the host)", st, o, want)
		}
	})
	t.Run("ping the gateway", func(t *testing.T) {
		if o, st := ga.sh(t, "ping -c 1 -W 3 "+gw); st != 0 {
			t.Fatalf("ping %s: %d %s", gw, st, o)
		}
	})
	t.Run("host services are closed to guests", func(t *testing.T) {
		svc := hostService(t, n.Gateway())
		if o, err := httpGet(host, "http://"+svc+"/"); err != nil || o != "host service\n" {
			t.Fatalf("the host itself cannot reach its service: %q %v", o, err)
		}
		blocked(t, ga, "http://"+svc+"/")
	})
	t.Run("isolated guests", func(t *testing.T) {
		blocked(t, ga, "http://"+ipB+"/") // switched: port isolation
		// Routed through the gateway both ways instead (redirects off, so
		// the guests keep using the gateway): only the forward chain can
		// stop that.
		ipA := attA.Lease.IP.String()
		for _, r := range []struct {
			g    *guest
			peer string
		}{{ga, ipB}, {gb, ipA}} {
			line := "echo 0 > /proc/sys/net/ipv4/conf/all/accept_redirects && echo 0 > /proc/sys/net/ipv4/conf/eth0/accept_redirects && ip route add " + r.peer + "/32 via " + gw
			if o, st := r.g.sh(t, line); st != 0 {
				t.Fatalf("guest %s: route via the gateway: %s", r.g.name, o)
			}
			defer r.g.sh(t, "ip route del "+r.peer+"/32")
		}
		blocked(t, ga, "http://"+ipB+"/")
	})
	t.Run("published port", func(t *testing.T) {
		for _, url := range []string{
			fmt.Sprintf("http://127.0.0.1:%d/", port),        // output DNAT + route_localnet
			fmt.Sprintf("http://%s:%d/", out.hostAddr, port), // a host address, from the host
			"http://" + ipB + "/",                            // host→guest, as the agent's TCP channel
		} {
			if o, err := httpGet(host, url); err != nil || o != "hello-from-b\n" {
				t.Errorf("host GET %s: %q %v", url, o, err)
			}
		}
		url := fmt.Sprintf("http://%s:%d/", out.hostAddr, port) // prerouting DNAT
		if o, err := out.get(url); err != nil || o != "hello-from-b\n" {
			t.Errorf("outside GET %s: %q %v", url, o, err)
		}
	})

	// A daemon restart with isolation off and a loopback resolver: Setup
	// re-plans the table, un-isolates the running taps and starts the
	// DNS forwarder.
	r, _ := hex.DecodeString(e.suffix[:4])
	stub := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 53, r[0], r[1]}), 53)
	fakeDNS(t, stub, out.nsAddr)
	writeFile(t, filepath.Join(e.dir, "resolv.conf"), "nameserver "+stub.Addr().String()+"\n")
	e.cfg.IsolateVMs = false
	n = e.restart(t, n)
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if l, _ := n.LeaseOf(a); len(l.DNS) != 1 || l.DNS[0] != n.Gateway() || l.IP != attA.Lease.IP {
		t.Fatalf("lease after restart: %+v", l)
	}
	if o := run(t, "ip", "-d", "link", "show", "dev", attA.Lease.Tap); !strings.Contains(o, "isolated off") {
		t.Fatalf("tap still isolated after Setup with isolate_vms off:\n%s", o)
	}
	t.Run("guests see each other when not isolated", func(t *testing.T) {
		if o, st := fetch(ga, "http://"+ipB+"/"); st != 0 || o != "hello-from-b" {
			t.Fatalf("guest a to guest b: %d %q", st, o)
		}
	})
	t.Run("dns forwarder", func(t *testing.T) {
		// Type A only: the stand-in resolver answers AAAA with no data,
		// which busybox nslookup waits out.
		o, st := ga.sh(t, "nslookup -type=a outside.test "+gw)
		if st != 0 || !strings.Contains(o, "Address: "+out.nsAddr.String()) {
			t.Fatalf("nslookup via the gateway: %d\n%s", st, o)
		}
	})

	// rm of b by this daemon; then the daemon is killed and a fresh one
	// reconciles a from nothing but its id.
	ga.kill()
	gb.kill()
	for _, id := range []string{b} {
		if err := n.Detach(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := n.Release(ctx, id); err != nil {
			t.Fatal(err)
		}
		assertGone(t, n, id)
	}
	n = e.restart(t, n)
	if err := n.Detach(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := n.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	assertGone(t, n, a)
	if err := n.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if nftText(t, e.cfg.NftTable) != "" || linkExists(e.cfg.Bridge) {
		t.Fatal("teardown left the table or the bridge")
	}
}
