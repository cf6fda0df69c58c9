//go:build linux

package hostnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// rootEnv is one root test's private network: its own bridge, subnet and
// nft table, so it collides neither with a real banger nor with other
// tests running on the machine.
type rootEnv struct {
	suffix string
	cfg    config.Network
	dir    string // store and resolv.conf
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)[:n]
}

func newRootEnv(t *testing.T) *rootEnv {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "nft", "nftables")
	testutil.RequireBinary(t, "ip", "iproute2")
	r := randHex(t, 6)
	x, _ := rand.Int(rand.Reader, big.NewInt(200))
	e := &rootEnv{
		suffix: r,
		dir:    t.TempDir(),
		cfg: config.Network{
			Bridge: "bgt" + r, Subnet: fmt.Sprintf("10.213.%d.0/24", 40+x.Int64()),
			NftTable: "bangertest_" + r, MTU: 1400, IsolateVMs: true,
		},
	}
	writeFile(t, filepath.Join(e.dir, "resolv.conf"), "nameserver 10.255.255.53\n")
	fwd := strings.TrimSpace(readFileT(t, "/proc/sys/net/ipv4/ip_forward"))
	// Whatever a test does, leave nothing: the table, the bridge, and
	// ip_forward as it was (Teardown does all three; this is the net
	// under it).
	t.Cleanup(func() {
		_ = exec.Command("nft", "delete", "table", "inet", e.cfg.NftTable).Run()   //nolint:noctx // cleanup
		_ = exec.Command("nft", "delete", "table", "bridge", e.cfg.NftTable).Run() //nolint:noctx // cleanup
		_ = exec.Command("ip", "link", "del", e.cfg.Bridge).Run()                  //nolint:noctx // cleanup
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(fwd), 0o644)      //nolint:gosec // restoring a sysctl
	})
	return e
}

// vmID is a VM id unique to this run.
func (e *rootEnv) vmID(name string) string { return "t" + e.suffix + name }

// network opens the env's store (kept across calls, as across daemon
// restarts) and returns a Network over it; closing happens at cleanup.
func (e *rootEnv) network(t *testing.T, opts ...Option) *Network {
	t.Helper()
	opts = append([]Option{WithResolvConf(filepath.Join(e.dir, "resolv.conf"))}, opts...)
	n, err := New(e.cfg, openStore(t, e.dir), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// restart is a new Network on the same state, as after a daemon restart:
// the old instance's store is closed first (bbolt allows one opener).
func (e *rootEnv) restart(t *testing.T, old *Network, opts ...Option) *Network {
	t.Helper()
	_ = old.Close()
	if err := old.st.Close(); err != nil {
		t.Fatal(err)
	}
	return e.network(t, opts...)
}

func readFileT(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p) //nolint:gosec // test paths
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// run runs a command and returns its output, failing the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nftText is `nft list table inet T` followed by `nft list table bridge
// T`, each "" when the table is absent.
func nftText(t *testing.T, table string) string {
	t.Helper()
	var all string
	for _, family := range []string{"inet", "bridge"} {
		out, err := exec.CommandContext(context.Background(), "nft", "list", "table", family, table).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "No such file or directory") {
				continue
			}
			t.Fatalf("nft list table %s %s: %v\n%s", family, table, err, out)
		}
		all += string(out)
	}
	return all
}

func linkExists(name string) bool {
	return exec.CommandContext(context.Background(), "ip", "link", "show", "dev", name).Run() == nil
}

// assertGone checks by Inventory and by the host's own tools that the VM
// holds no tap, no rule and no lease.
func assertGone(t *testing.T, n *Network, vmID string) {
	t.Helper()
	inv, err := n.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Of(vmID).Err(); err != nil {
		t.Errorf("inventory still holds for %s: %v", vmID, err)
	}
	if linkExists(TapName(vmID)) {
		t.Errorf("ip link still shows %s", TapName(vmID))
	}
	if text := nftText(t, n.cfg.Table); strings.Contains(text, Marker(vmID)) {
		t.Errorf("nft still has rules of %s:\n%s", vmID, text)
	}
	if _, err := n.LeaseOf(vmID); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("lease of %s still there: %v", vmID, err)
	}
}

// wantTable is the text nft must list: the base plans plus the VMs' rules.
func wantTable(n *Network, vms map[string][]Port) string {
	p, b := n.Plan(), n.BridgePlan()
	for id, ports := range vms {
		l, _ := n.LeaseOf(id)
		p.Rules = append(p.Rules, portRules(id, l.IP, ports)...)
		b.Rules = append(b.Rules, antispoofRules(id, l.Tap, net.HardwareAddr(mustMAC(l.MAC)), l.IP)...)
	}
	return p.String() + b.String()
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestRootLifecycle(t *testing.T) {
	e := newRootEnv(t)
	ctx := context.Background()
	fwdBefore := strings.TrimSpace(readFileT(t, "/proc/sys/net/ipv4/ip_forward"))
	n := e.network(t)
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	// The kernel's own listing matches the plan's text: the expressions
	// mean what the plan says.
	if got, want := nftText(t, e.cfg.NftTable), n.Plan().String()+n.BridgePlan().String(); got != want {
		t.Fatalf("nft list table:\n%s\nwant:\n%s", got, want)
	}
	br := run(t, "ip", "-d", "addr", "show", "dev", e.cfg.Bridge)
	gw := n.Gateway().String() + "/24"
	for _, want := range []string{"mtu 1400", "link/ether " + bridgeMAC(e.cfg.Bridge).String(), "inet " + gw, "bridge"} {
		if !strings.Contains(br, want) {
			t.Errorf("bridge lacks %q:\n%s", want, br)
		}
	}
	if v := strings.TrimSpace(readFileT(t, "/proc/sys/"+routeLocalnet(e.cfg.Bridge))); v != "1" {
		t.Errorf("route_localnet = %s", v)
	}
	if v := strings.TrimSpace(readFileT(t, "/proc/sys/net/ipv4/ip_forward")); v != "1" {
		t.Errorf("ip_forward = %s", v)
	}

	vm := e.vmID("a")
	port := freePort(t)
	ports := []Port{{HostPort: port, GuestPort: 80, Protocol: "tcp"}, {HostIP: "127.0.0.1", HostPort: port, GuestPort: 53, Protocol: "udp"}}
	att, err := n.Attach(ctx, vm, ports, func(Resources) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	tap := run(t, "ip", "-d", "link", "show", "dev", att.Lease.Tap)
	for _, want := range []string{"mtu 1400", "master " + e.cfg.Bridge, "tun type tap", "isolated on"} {
		if !strings.Contains(tap, want) {
			t.Errorf("tap lacks %q:\n%s", want, tap)
		}
	}
	want := wantTable(n, map[string][]Port{vm: ports})
	if got := nftText(t, e.cfg.NftTable); got != want {
		t.Fatalf("with a VM, nft list table:\n%s\nwant:\n%s", got, want)
	}
	inv, err := n.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := inv.Of(vm)
	if len(o.Taps) != 1 || o.Taps[0].VMID != vm || !o.Taps[0].Isolated || len(o.Rules) != 5 || o.Lease == nil {
		t.Fatalf("inventory of the VM: %+v", o)
	}

	// A daemon restart: Setup again keeps the VM's rules and tap.
	n = e.restart(t, n)
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nftText(t, e.cfg.NftTable); got != want {
		t.Fatalf("after restart, nft list table:\n%s\nwant:\n%s", got, want)
	}
	if l, err := n.LeaseOf(vm); err != nil || l.IP != att.Lease.IP {
		t.Fatalf("lease after restart: %+v, %v", l, err)
	}

	// rm: Detach from the id alone, then Release.
	if err := n.Detach(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if err := n.Release(ctx, vm); err != nil {
		t.Fatal(err)
	}
	assertGone(t, n, vm)
	if got := nftText(t, e.cfg.NftTable); got != n.Plan().String()+n.BridgePlan().String() {
		t.Fatalf("after rm, nft list table:\n%s", got)
	}

	if err := n.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	if nftText(t, e.cfg.NftTable) != "" || linkExists(e.cfg.Bridge) {
		t.Fatal("teardown left the table or the bridge")
	}
	if v := strings.TrimSpace(readFileT(t, "/proc/sys/net/ipv4/ip_forward")); v != fwdBefore {
		t.Fatalf("ip_forward = %s after teardown, was %s", v, fwdBefore)
	}
}

func TestRootRefusesOverlappingSubnet(t *testing.T) {
	e := newRootEnv(t)
	dummy := "bgtd" + e.suffix
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dummy).Run() }) //nolint:noctx // cleanup
	run(t, "ip", "link", "add", dummy, "type", "bridge")                     // no dummy module here; any link with a route will do
	run(t, "ip", "addr", "add", strings.Replace(e.cfg.Subnet, ".0/24", ".129/25", 1), "dev", dummy)
	run(t, "ip", "link", "set", dummy, "up")

	err := e.network(t).Setup(context.Background())
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "via "+dummy) {
		t.Fatalf("Setup over a routed subnet: %v", err)
	}
	if linkExists(e.cfg.Bridge) || nftText(t, e.cfg.NftTable) != "" {
		t.Fatal("a refused Setup still created the bridge or the table")
	}
}
