package testutil

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"os/exec"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/nsrun"
)

// InNetns runs fn on an OS thread switched into the named network
// namespace (`ip netns add NAME`): the sockets and taps fn opens and the
// processes it starts belong to it (package nsrun).
func InNetns(name string, fn func() error) error {
	return nsrun.Net("/var/run/netns/"+name, fn)
}

// NetnsPair is two network namespaces a test made, joined by a veth
// pair, as a CNI plugin leaves a pod's: A's end (VethA) holds AddrA
// (10.250.X.2/24) with a default route via B's end (VethB, 10.250.X.1),
// so A stands for a pod's namespace and B for the node beyond it.
type NetnsPair struct {
	A, B         string
	VethA, VethB string
	// AddrA and AddrB are A's and B's addresses, without the prefix
	// length (24).
	AddrA, AddrB string
}

// PathA is A's namespace file.
func (p NetnsPair) PathA() string { return "/var/run/netns/" + p.A }

// NewNetnsPair makes the pair (names ending in suffix, at most 8
// characters), removed when the test ends. It needs root.
func NewNetnsPair(t testing.TB, suffix string) NetnsPair {
	t.Helper()
	x, _ := rand.Int(rand.Reader, big.NewInt(250))
	p := NetnsPair{
		A: "bgna" + suffix, B: "bgnb" + suffix, VethA: "eth0", VethB: "bgvb" + suffix,
		AddrA: fmt.Sprintf("10.250.%d.2", x.Int64()+1), AddrB: fmt.Sprintf("10.250.%d.1", x.Int64()+1),
	}
	t.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", p.A).Run() //nolint:noctx // cleanup
		_ = exec.Command("ip", "netns", "del", p.B).Run() //nolint:noctx // cleanup
	})
	for _, args := range [][]string{
		{"netns", "add", p.A},
		{"netns", "add", p.B},
		{"-n", p.A, "link", "add", p.VethA, "type", "veth", "peer", "name", p.VethB, "netns", p.B},
		{"-n", p.A, "addr", "add", p.AddrA + "/24", "dev", p.VethA},
		{"-n", p.A, "link", "set", p.VethA, "up"},
		{"-n", p.A, "link", "set", "lo", "up"},
		{"-n", p.A, "route", "add", "default", "via", p.AddrB},
		{"-n", p.B, "addr", "add", p.AddrB + "/24", "dev", p.VethB},
		{"-n", p.B, "link", "set", p.VethB, "up"},
		{"-n", p.B, "link", "set", "lo", "up"},
	} {
		IP(t, args...)
	}
	return p
}

// IP runs ip(8) with args and returns its output; a failure fails t.
func IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TC runs tc(8) with args inside the namespace ns and returns its
// output; a failure fails t.
func TC(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), "ip", append([]string{"netns", "exec", ns, "tc"}, args...)...).CombinedOutput() //nolint:gosec // a test's own namespace
	if err != nil {
		t.Fatalf("tc %s in %s: %v\n%s", strings.Join(args, " "), ns, err, out)
	}
	return string(out)
}

// NetnsView is what the namespace ns holds of what an attachment
// touches: addresses, routes, qdiscs and the ingress filters of its eth*
// links. Tests compare it before an attach and after a detach.
func NetnsView(t testing.TB, ns string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(IP(t, "-n", ns, "-br", "addr"))
	b.WriteString(IP(t, "-n", ns, "route"))
	b.WriteString(TC(t, ns, "qdisc", "show"))
	for _, l := range strings.Fields(IP(t, "-n", ns, "-br", "link")) {
		if name, _, _ := strings.Cut(l, "@"); strings.HasPrefix(name, "eth") {
			b.WriteString(TC(t, ns, "filter", "show", "dev", name, "ingress"))
		}
	}
	return b.String()
}
