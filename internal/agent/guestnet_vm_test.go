package agent_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/bangerdev/banger/internal/testutil"
)

// guestNet is a network namespace of the test's own: a bridge holding
// the guests' gateway address and their taps. QEMU is started inside it
// (in), so guests reach only each other and the bridge.
type guestNet struct {
	ns     string
	subnet netip.Prefix // 10.251.Y.0/24; the bridge is .1
}

func newGuestNet(t *testing.T) *guestNet {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "ip", "iproute2")
	y, _ := rand.Int(rand.Reader, big.NewInt(250))
	n := &guestNet{
		ns:     fmt.Sprintf("bgag%d", y.Int64()),
		subnet: netip.MustParsePrefix(fmt.Sprintf("10.251.%d.0/24", y.Int64())),
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.ns).Run() }) //nolint:noctx // cleanup
	ipCmd(t, "netns", "add", n.ns)
	ipCmd(t, "-n", n.ns, "link", "set", "lo", "up")
	ipCmd(t, "-n", n.ns, "link", "add", "br0", "type", "bridge")
	ipCmd(t, "-n", n.ns, "addr", "add", n.addr(1).String(), "dev", "br0")
	ipCmd(t, "-n", n.ns, "link", "set", "br0", "up")
	return n
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.CommandContext(context.Background(), "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// addr is host i of the subnet, with its prefix length.
func (n *guestNet) addr(i int) netip.Prefix {
	a := n.subnet.Addr().As4()
	a[3] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(a), n.subnet.Bits())
}

// tap makes a tap on the bridge, as the daemon's hostnet does.
func (n *guestNet) tap(t *testing.T, name string) string {
	t.Helper()
	ipCmd(t, "-n", n.ns, "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr")
	ipCmd(t, "-n", n.ns, "link", "set", name, "master", "br0", "up")
	return name
}

// in runs fn on an OS thread switched into the namespace: the taps fn
// opens and the processes it starts are the namespace's. A thread that
// cannot switch back stays locked, so Go retires it.
func (n *guestNet) in(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer func() { _ = orig.Close() }()
		target, err := netns.GetFromName(n.ns)
		if err != nil {
			errc <- err
			return
		}
		defer func() { _ = target.Close() }()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// fdb is the bridge's forwarding table: which MAC was seen on which tap.
func (n *guestNet) fdb(t *testing.T) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "bridge", "-n", n.ns, "fdb", "show", "br", "br0").CombinedOutput()
	if err != nil {
		t.Fatalf("bridge fdb: %v\n%s", err, out)
	}
	return string(out)
}
