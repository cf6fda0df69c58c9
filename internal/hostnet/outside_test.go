//go:build linux

package hostnet

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// outside is a network namespace standing for the world beyond the host:
// a veth pair from the host into it, routed from the host, with an HTTP
// server that tells who connected.
type outside struct {
	ns       string
	hostIf   string
	hostAddr netip.Addr // the host's end: what masquerade makes guests look like
	nsAddr   netip.Addr // the server's address
}

func newOutside(t *testing.T, suffix string) *outside {
	t.Helper()
	y, _ := rand.Int(rand.Reader, big.NewInt(250))
	o := &outside{
		ns: "bgto" + suffix, hostIf: "bgto" + suffix,
		hostAddr: netip.MustParseAddr(fmt.Sprintf("198.18.%d.1", y.Int64())),
		nsAddr:   netip.MustParseAddr(fmt.Sprintf("198.18.%d.2", y.Int64())),
	}
	peer := "bgtp" + suffix
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", o.hostIf).Run() //nolint:noctx // cleanup
		_ = exec.Command("ip", "netns", "del", o.ns).Run()    //nolint:noctx // cleanup
	})
	run(t, "ip", "netns", "add", o.ns)
	run(t, "ip", "link", "add", o.hostIf, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", peer, "netns", o.ns)
	run(t, "ip", "addr", "add", o.hostAddr.String()+"/24", "dev", o.hostIf)
	run(t, "ip", "link", "set", o.hostIf, "up")
	run(t, "ip", "-n", o.ns, "addr", "add", o.nsAddr.String()+"/24", "dev", peer)
	run(t, "ip", "-n", o.ns, "link", "set", peer, "up")
	run(t, "ip", "-n", o.ns, "link", "set", "lo", "up")
	return o
}

// in runs fn in the namespace (testutil.InNetns).
func (o *outside) in(fn func() error) error { return testutil.InNetns(o.ns, fn) }

// serveHTTP serves "outside saw <client address>" on nsAddr:80 inside.
func (o *outside) serveHTTP(t *testing.T) {
	t.Helper()
	var ln net.Listener
	if err := o.in(func() (err error) {
		ln, err = net.Listen("tcp4", net.JoinHostPort(o.nsAddr.String(), "80"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		_, _ = fmt.Fprintf(w, "outside saw %s\n", host)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// get fetches url from inside the namespace.
func (o *outside) get(url string) (string, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = o.in(func() error {
			d := net.Dialer{Timeout: 10 * time.Second}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	return httpGet(&http.Client{Transport: tr, Timeout: 20 * time.Second}, url)
}

func httpGet(c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// fakeDNS answers A queries for any name with addr, on a loopback address
// of the host: a stand-in for a systemd-resolved stub.
func fakeDNS(t *testing.T, listen netip.AddrPort, addr netip.Addr) {
	t.Helper()
	udpResponder(t, listen, func(q []byte) []byte { return dnsAnswer(q, addr) })
}

// dnsAnswer answers the question of q (type A: addr; others: no answer).
func dnsAnswer(q []byte, addr netip.Addr) []byte {
	if len(q) < 12 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	i += 5 // the root label, qtype, qclass
	if i > len(q) {
		return nil
	}
	resp := append([]byte(nil), q[:i]...)
	resp[2], resp[3] = 0x81, 0x80 // a response, recursion desired and available
	copy(resp[6:12], []byte{0, 0, 0, 0, 0, 0})
	if q[i-4] == 0 && q[i-3] == 1 { // type A
		resp[7] = 1
		a := addr.As4()
		resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, a[:]...)
	}
	return resp
}
