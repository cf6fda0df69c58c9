package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
)

// TestTwoDaemonsSideBySide runs a second daemon (--root, network left at
// the defaults) next to the fixture's: it gets a bridge, table and subnet
// of its own, and each daemon's gc finds its own leaks and never touches
// the other's VMs or leaks.
func TestTwoDaemonsSideBySide(t *testing.T) {
	a := env(t)
	b := secondDaemon(t, a)
	for _, args := range [][]string{
		{"kernel", "import", testutil.DebianKernelDebs(t), "--name", "debian", "--default"},
		{"image", "import", busyboxTar(t), "--name", "busybox"},
	} {
		b.must(t, args...)
	}
	va := strings.TrimSpace(a.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { a.cli(nil, "rm", "-f", va) })
	vb := strings.TrimSpace(b.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { b.cli(nil, "rm", "-f", vb) })

	if b.cfg.Network.Bridge == a.cfg.Network.Bridge || b.cfg.Network.NftTable == a.cfg.Network.NftTable || !strings.HasPrefix(b.cfg.Network.Bridge, "bgr-") {
		t.Fatalf("second daemon's network %+v; the fixture's %+v", b.cfg.Network, a.cfg.Network)
	}
	ipB := b.inspect(t, vb).Runtime.IP
	if netip.MustParsePrefix(a.cfg.Network.Subnet).Contains(netip.MustParseAddr(ipB)) {
		t.Fatalf("b's VM %s is in a's subnet %s", ipB, a.cfg.Network.Subnet)
	}
	if out, _ := exec.Command("ip", "-br", "addr", "show", "dev", b.cfg.Network.Bridge).CombinedOutput(); !strings.Contains(string(out), ".1/24") {
		t.Errorf("b's bridge: %s", out)
	}

	// A leak of each: a tap on a's bridge, a rule in b's table.
	var r [6]byte
	_, _ = rand.Read(r[:])
	strayTap := "bg-" + hex.EncodeToString(r[:])
	run(t, "ip", "tuntap", "add", strayTap, "mode", "tap")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", strayTap).Run() })
	run(t, "ip", "link", "set", strayTap, "master", a.cfg.Network.Bridge)
	strayRule := "banger:" + hex.EncodeToString(r[:])[:10] + "ff"
	run(t, "nft", "add", "rule", "inet", b.cfg.Network.NftTable, "published", "accept", "comment", `"`+strayRule+`"`)

	gc := func(f *fixture, dry bool) api.GCReport {
		args := []string{"gc", "--format", "json"}
		if dry {
			args = append(args, "--dry-run")
		}
		var rep api.GCReport
		if err := json.Unmarshal([]byte(f.must(t, args...)), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	only := func(name string, rep api.GCReport, kind, obj string) {
		t.Helper()
		if len(rep.Objects) != 1 || rep.Objects[0].Kind != kind || rep.Objects[0].Name != obj {
			t.Errorf("%s's gc: %+v; want only the %s %s", name, rep.Objects, kind, obj)
		}
	}
	only("a", gc(a, true), "tap", strayTap)
	only("b", gc(b, true), "nft-rule", strayRule)
	only("a", gc(a, false), "tap", strayTap)
	only("b", gc(b, false), "nft-rule", strayRule)
	// Both VMs still reach their own gateway through their own bridge.
	for _, g := range []struct {
		f  *fixture
		id string
	}{{a, va}, {b, vb}} {
		out := g.f.must(t, "exec", g.id, "--", "sh", "-c", `ping -c 1 -W 3 "$(ip route | sed -n 's/^default via \([0-9.]*\).*/\1/p')"`)
		if !strings.Contains(out, "1 packets received") {
			t.Errorf("vm %s after both gcs: %s", g.id, out)
		}
	}
	if err := exec.Command("ip", "link", "show", "bg-"+vb).Run(); err != nil {
		t.Errorf("b's VM lost its tap: %v", err)
	}
	if out, _ := exec.Command("nft", "list", "table", "inet", b.cfg.Network.NftTable).CombinedOutput(); strings.Contains(string(out), strayRule) {
		t.Errorf("b's gc left its stray rule")
	}
}

// secondDaemon starts another daemon in this process on a root of its
// own, with the default network settings (so its own are derived), and
// returns it as a fixture whose cfg is what it runs with.
func secondDaemon(t *testing.T, a *fixture) *fixture {
	t.Helper()
	root, err := os.MkdirTemp("", "bgsd") //nolint:usetesting // short socket paths; close removes it
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Daemon.SocketGroup = ""
	cfg.Image.AgentBinary = a.agent
	cfg.VM.StopTimeout = 5
	b := &fixture{root: root, layout: paths.Rooted(root), logs: a.logs, agent: a.agent, banger: a.banger}
	b.d, err = daemon.New(daemon.Options{Layout: b.layout, Config: cfg, Log: slog.New(slog.NewTextHandler(b.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.stop, b.served, b.host = cancel, make(chan error, 1), "unix://"+b.layout.Socket
	go func() { b.served <- b.d.Serve(ctx) }()
	if err := waitSocket(b.layout.Socket); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.close(); err != nil {
			t.Errorf("second daemon: %v", err)
		}
	})
	c, _ := api.NewClient(b.host)
	raw, err := api.Do(context.Background(), c, api.GetConfig, api.None{})
	if err != nil || json.Unmarshal(raw, &b.cfg) != nil {
		t.Fatalf("second daemon's config: %v", err)
	}
	return b
}

// run runs a host command, failing the test on error.
func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}
