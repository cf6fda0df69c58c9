package e2e

import (
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// TestNetnsAttach runs a real VM attached to a network namespace made as
// a CNI plugin leaves a pod's (A: eth0 at 10.250.X.2/24, default route via
// its peer in B at .1): from B an HTTP request reaches the guest's httpd
// at A's address, the guest reaches a listener in B, -p is refused, and
// after rm the tap and banger's filters are gone from A while eth0 keeps
// what it had. Traffic stays inside the two namespaces the test made.
func TestNetnsAttach(t *testing.T) {
	f := env(t)
	p := testutil.NewNetnsPair(t, "e2e")
	before := testutil.NetnsView(t, p.A)
	fromB := listenIn(t, p.B, p.AddrB+":8081", "hello-from-b\n")
	mode := "netns:" + p.PathA()

	out, errOut, code := f.cli(nil, "run", "-d", "--network", mode, "-p", "8080:80", "busybox")
	if code != 125 || !strings.Contains(out+errOut, "--publish does not apply with --network "+mode) {
		t.Errorf("run -p with a namespace: exit %d: %s%s", code, out, errOut)
	}

	serve := "mkdir -p /www && echo hello-from-the-guest > /www/index.html && exec httpd -f -p 80 -h /www"
	id := strings.TrimSpace(f.must(t, "run", "-d", "--network", mode, "busybox", "--", "sh", "-c", serve))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	vm := f.inspect(t, id)
	mac := strings.Fields(testutil.IP(t, "-n", p.A, "-br", "link", "show", p.VethA))[2]
	if vm.Runtime.IP != p.AddrA || vm.Runtime.MAC != mac || vm.Runtime.Tap != "bg-"+id {
		t.Errorf("runtime %+v: want ip %s, mac %s (eth0's), tap bg-%s", vm.Runtime, p.AddrA, mac, id)
	}
	for dev, to := range map[string]string{p.VethA: "bg-" + id, "bg-" + id: p.VethA} {
		if got := testutil.TC(t, p.A, "filter", "show", "dev", dev, "ingress"); !strings.Contains(got, "Egress Redirect to device "+to) {
			t.Errorf("filters of %s in %s:\n%s", dev, p.A, got)
		}
	}

	// B → guest: the pod's address answers from inside the VM.
	if got := wgetIn(t, p.B, "http://"+p.AddrA+"/"); got != "hello-from-the-guest\n" {
		t.Errorf("GET http://%s/ from %s: %q", p.AddrA, p.B, got)
	}
	// guest → B, through the pod's default route.
	if got, _, code := f.cli(nil, "exec", id, "--", "sh", "-c", "nc -w 3 "+p.AddrB+" 8081 </dev/null"); code != 0 || got != "hello-from-b\n" {
		t.Errorf("guest → %s:8081: exit %d, %q", p.AddrB, code, got)
	}
	if n := <-fromB; n != 1 {
		t.Errorf("the listener in B served %d connections, want 1", n)
	}
	// Its tap's counters, read inside the namespace: the HTTP exchange.
	if s := f.stats(t, id); s.NetRxBytes == nil || s.NetTxBytes == nil || *s.NetRxBytes == 0 || *s.NetTxBytes == 0 {
		t.Errorf("stats of a VM in a namespace: rx %v tx %v; want its tap's bytes", s.NetRxBytes, s.NetTxBytes)
	}
	// The guest's own view: eth0 has the pod's MAC, address and route.
	if got := f.must(t, "exec", id, "--", "sh", "-c", "ip addr show eth0; ip route"); !strings.Contains(got, "link/ether "+mac) ||
		!strings.Contains(got, p.AddrA+"/24") || !strings.Contains(got, "default via "+p.AddrB) {
		t.Errorf("guest network:\n%s", got)
	}

	f.must(t, "rm", "-f", id)

	// A second VM in the namespace is restored from a boot snapshot (the
	// first one's held boot saved one, if none was there): QEMU's restore
	// gets the tap in the namespace too, and the held guest takes the
	// pod's MAC and address when its config is applied.
	id2 := strings.TrimSpace(f.must(t, "run", "-d", "--network", mode, "busybox", "--", "sh", "-c", strings.ReplaceAll(serve, "the-guest", "the-second")))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id2) })
	if b := f.inspect(t, id2).Boot; b.Mode != "restored" {
		t.Errorf("second VM booted %+v, want restored", b)
	}
	if got := wgetIn(t, p.B, "http://"+p.AddrA+"/"); got != "hello-from-the-second\n" {
		t.Errorf("GET http://%s/ from %s, second VM: %q", p.AddrA, p.B, got)
	}
	f.must(t, "rm", "-f", id2)

	if got := testutil.IP(t, "-n", p.A, "link"); strings.Contains(got, "bg-") {
		t.Errorf("a tap is left in %s:\n%s", p.A, got)
	}
	if after := testutil.NetnsView(t, p.A); after != before {
		t.Errorf("namespace %s changed:\nbefore\n%s\nafter\n%s", p.A, before, after)
	}
	if got := f.must(t, "gc", "--dry-run"); strings.Contains(got, "netns") {
		t.Errorf("gc --dry-run after rm:\n%s", got)
	}
}

// listenIn serves reply to every TCP connection on addr inside the
// namespace ns; the channel gets the count when the test ends or after
// the first connection's reply.
func listenIn(t *testing.T, ns, addr, reply string) <-chan int {
	t.Helper()
	var ln net.Listener
	if err := testutil.InNetns(ns, func() (err error) {
		ln, err = net.Listen("tcp4", addr) //nolint:noctx // the socket is made in ns
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	served := make(chan int, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- 0
			return
		}
		_, _ = io.WriteString(c, reply)
		_ = c.Close()
		served <- 1
	}()
	return served
}

// wgetIn runs `ip netns exec NS wget -qO- URL` (what the README shows),
// retrying while the guest's server starts.
func wgetIn(t *testing.T, ns, url string) string {
	t.Helper()
	var out []byte
	var err error
	for range 50 {
		out, err = exec.Command("ip", "netns", "exec", ns, "wget", "-qO-", "-T", "3", url).CombinedOutput() //nolint:noctx // a test's own namespace
		if err == nil {
			return string(out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("wget %s in %s: %v\n%s", url, ns, err, out)
	return ""
}
