package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostileGuestNetwork has a guest try every way to the host and to
// another VM it must not have, and asserts each is blocked; each rule has
// a positive control that what must work still works. Two real VMs run
// the busybox image: a is the hostile one, b the neighbour.
func TestHostileGuestNetwork(t *testing.T) {
	f := env(t)
	hostSvc := hostListener(t)
	pub := freeTCPPort(t)
	serve := func(name string) string {
		return "mkdir -p /www && echo hello-from-" + name + " > /www/index.html && exec httpd -f -p 80 -h /www"
	}
	a := strings.TrimSpace(f.must(t, "run", "-d", "busybox", "--", "sh", "-c", serve("a")))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", a) })
	b := strings.TrimSpace(f.must(t, "run", "-d", "-p", fmt.Sprintf("%d:80", pub), "busybox", "--", "sh", "-c", serve("b")))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", b) })
	va, vb := f.inspect(t, a), f.inspect(t, b)
	gw := netip.MustParsePrefix(f.cfg.Network.Subnet).Addr().Next().String()
	sh := func(id, line string) (string, int) {
		out, errOut, code := f.cli(nil, "exec", id, "--", "sh", "-c", line)
		return out + errOut, code
	}
	// connects reports whether the guest opens a TCP connection to
	// addr:port within 3 s (busybox nc runs `true` once connected).
	connects := func(id, addr string, port int) bool {
		_, code := sh(id, fmt.Sprintf("timeout 5 nc -w 3 %s %d -e true", addr, port))
		return code == 0
	}
	hostGet := func(url string) string {
		c := http.Client{Timeout: 5 * time.Second}
		for range 50 {
			if r, err := c.Get(url); err == nil {
				body, _ := io.ReadAll(r.Body)
				_ = r.Body.Close()
				return string(body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		return ""
	}
	var tried, blocked int
	mustBlock := func(t *testing.T, what string, reached bool) {
		t.Helper()
		tried++
		if reached {
			t.Errorf("hostile guest reached %s", what)
			return
		}
		blocked++
	}
	t.Cleanup(func() { t.Logf("hostile guest cases: %d tried, %d blocked", tried, blocked) })

	t.Run("host services", func(t *testing.T) {
		// Control: the service answers the host on every address.
		if got := hostGet("http://" + net.JoinHostPort(gw, strconv.Itoa(hostSvc)) + "/"); got != "host service\n" {
			t.Fatalf("control: the host cannot reach its own service on %s: %q", gw, got)
		}
		for _, addr := range hostAddrs(t) {
			mustBlock(t, fmt.Sprintf("the host service on %s:%d", addr, hostSvc), connects(a, addr, hostSvc))
		}
		// Every TCP port the host listens on, from the guest's side of the
		// gateway: sshd, the DNS relay's TCP side aside, anything.
		for _, port := range listeningPorts(t, 8) {
			if port == 53 {
				continue
			}
			mustBlock(t, fmt.Sprintf("host port %d on the gateway", port), connects(a, gw, port))
		}
	})
	t.Run("dns relay is the one port", func(t *testing.T) {
		resolv, _ := sh(a, "cat /etc/resolv.conf")
		if !strings.Contains(resolv, "nameserver "+gw) {
			t.Skipf("no DNS relay here (the host's resolvers are reachable through NAT): %q", resolv)
		}
		if !connects(a, gw, 53) {
			t.Errorf("control: the guest cannot reach the DNS relay on %s:53", gw)
		}
		mustBlock(t, "port 54 next to the DNS relay", connects(a, gw, 54))
	})
	t.Run("the daemon", func(t *testing.T) {
		// The API is a unix socket, which no packet reaches; the daemon (in
		// this test process) listens on TCP only for the DNS relay. Every
		// port it does listen on is probed.
		if fi, err := os.Stat(f.layout.Socket); err != nil || fi.Mode()&os.ModeSocket == 0 {
			t.Fatalf("the daemon's socket %s: %v", f.layout.Socket, err)
		}
		ports := processListeningPorts(t)
		if len(ports) == 0 {
			t.Fatal("found no listening socket of the daemon's process (the test's own host service is one)")
		}
		for _, port := range ports {
			if port != 53 {
				mustBlock(t, fmt.Sprintf("the daemon process's port %d", port), connects(a, gw, port))
			}
		}
	})
	t.Run("other VMs both ways", func(t *testing.T) {
		// Control: the host reaches b directly and through its published port.
		if got := hostGet("http://" + vb.Runtime.IP + "/"); got != "hello-from-b\n" {
			t.Fatalf("control: host to b: %q", got)
		}
		if got := hostGet(fmt.Sprintf("http://127.0.0.1:%d/", pub)); got != "hello-from-b\n" {
			t.Fatalf("control: b's published port: %q", got)
		}
		mustBlock(t, "vm b from vm a", connects(a, vb.Runtime.IP, 80))
		mustBlock(t, "vm a from vm b", connects(b, va.Runtime.IP, 80))
		mustBlock(t, "b's published port through the gateway", connects(a, gw, pub))
	})
	t.Run("spoofing another VM's address", func(t *testing.T) {
		pingGW := func() bool { _, code := sh(a, "ping -c 1 -W 2 "+gw); return code == 0 }
		if !pingGW() {
			t.Fatal("control: a cannot ping the gateway with its own addresses")
		}
		bits := netip.MustParsePrefix(f.cfg.Network.Subnet).Bits()
		restore := fmt.Sprintf("ip link set eth0 address %s && ip addr flush dev eth0 && ip addr add %s/%d dev eth0 && ip route replace default via %s",
			va.Runtime.MAC, va.Runtime.IP, bits, gw)
		for _, s := range []struct{ what, line string }{
			{"b's IP", fmt.Sprintf("ip addr flush dev eth0 && ip addr add %s/%d dev eth0", vb.Runtime.IP, bits)},
			{"b's MAC", "ip link set eth0 address " + vb.Runtime.MAC},
			{"b's IP and MAC", fmt.Sprintf("ip link set eth0 address %s && ip addr flush dev eth0 && ip addr add %s/%d dev eth0", vb.Runtime.MAC, vb.Runtime.IP, bits)},
		} {
			if out, code := sh(a, s.line); code != 0 {
				t.Fatalf("take %s: %d %s", s.what, code, out)
			}
			// Claim b's address to the host and the bridge, then try.
			_, _ = sh(a, fmt.Sprintf("arping -U -c 2 -w 3 -I eth0 %s; arping -A -c 2 -w 3 -I eth0 %s", vb.Runtime.IP, vb.Runtime.IP))
			mustBlock(t, "the gateway with "+s.what, pingGW())
			mustBlock(t, "the host service with "+s.what, connects(a, gw, hostSvc))
			if got := hostGet("http://" + vb.Runtime.IP + "/"); got != "hello-from-b\n" {
				t.Errorf("with a holding %s, the host reaching b got %q: traffic for b was hijacked", s.what, got)
			}
			if out, code := sh(a, restore); code != 0 {
				t.Fatalf("restore a: %d %s", code, out)
			}
		}
		if !pingGW() {
			t.Error("control: a cannot ping the gateway once its own addresses are back")
		}
		if n, err := exec.Command("ip", "neigh", "show", vb.Runtime.IP, "dev", f.cfg.Network.Bridge).CombinedOutput(); err == nil &&
			strings.Contains(string(n), "lladdr") && !strings.Contains(string(n), vb.Runtime.MAC) {
			t.Errorf("the host's ARP entry for b was poisoned: %s", n)
		}
	})
}

// hostListener serves HTTP on 0.0.0.0 like any host daemon: guests must
// reach it on no address.
func hostListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "host service\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// hostAddrs are the host's IPv4 addresses but loopback (a guest's
// 127.0.0.1 is its own).
func hostAddrs(t *testing.T) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && !p.Addr().IsLoopback() {
			out = append(out, p.Addr().String())
		}
	}
	return out
}

// listeningPorts returns up to n TCP ports the host listens on for every
// IPv4 address (/proc/net/tcp, state LISTEN, address 0.0.0.0).
func listeningPorts(t *testing.T, n int) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, l := range tcpListeners(b) {
		if l.any && len(out) < n {
			out = append(out, l.port)
		}
	}
	return out
}

// processListeningPorts returns the TCP ports this process listens on
// (its socket inodes in /proc/net/tcp).
func processListeningPorts(t *testing.T) []int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	mine := map[string]bool{}
	for _, fd := range fds {
		if l, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil {
			if ino, ok := strings.CutPrefix(l, "socket:["); ok {
				mine[strings.TrimSuffix(ino, "]")] = true
			}
		}
	}
	var out []int
	for _, l := range tcpListeners(b) {
		if mine[l.inode] {
			out = append(out, l.port)
		}
	}
	return out
}

type tcpListener struct {
	port  int
	any   bool // bound to 0.0.0.0
	inode string
}

// tcpListeners parses /proc/net/tcp for sockets in state LISTEN.
func tcpListeners(procNetTCP []byte) []tcpListener {
	var out []tcpListener
	for line := range strings.Lines(string(procNetTCP)) {
		f := strings.Fields(line)
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		addr, port, ok := strings.Cut(f[1], ":")
		p, err := strconv.ParseInt(port, 16, 32)
		if !ok || err != nil {
			continue
		}
		out = append(out, tcpListener{port: int(p), any: addr == "00000000", inode: f[9]})
	}
	return out
}
