//go:build linux

package hostnet

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestRootOwnership: Setup marks the bridge (alias) and the table (an
// owner chain) on the host; a second daemon configured onto the same
// network is refused and told how to get its own, and changes nothing.
func TestRootOwnership(t *testing.T) {
	e := newRootEnv(t)
	ctx := context.Background()
	n := e.network(t, WithOwner("/srv/first"))
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-d", "link", "show", "dev", e.cfg.Bridge); !strings.Contains(out, "alias banger:/srv/first") {
		t.Errorf("bridge not marked:\n%s", out)
	}
	if got, want := nftText(t, e.cfg.NftTable), n.Plan().String()+n.BridgePlan().String(); got != want || !strings.Contains(got, ownerChain("/srv/first")) {
		t.Fatalf("nft list table:\n%s\nwant (with the owner chain):\n%s", got, want)
	}
	other, err := New(e.cfg, openStore(t, ""), WithOwner("/srv/second"), WithResolvConf(e.dir+"/resolv.conf"))
	if err != nil {
		t.Fatal(err)
	}
	before := nftText(t, e.cfg.NftTable)
	err = other.Setup(ctx)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "/srv/first") || !strings.Contains(err.Error(), "[network] bridge") {
		t.Fatalf("second daemon's Setup: %v", err)
	}
	if nftText(t, e.cfg.NftTable) != before {
		t.Error("the refused Setup changed the table")
	}
	// Its own bridge but the first one's table: refused too.
	e2 := *e
	e2.cfg.Bridge = "bgu" + e.suffix
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", e2.cfg.Bridge).Run() }) //nolint:noctx // cleanup
	third, err := New(e2.cfg, openStore(t, ""), WithOwner("/srv/third"), WithResolvConf(e.dir+"/resolv.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Setup(ctx); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "another banger daemon owns it") {
		t.Fatalf("Setup on another daemon's table: %v", err)
	}
}

// TestRootAutoSubnet: subnet "auto" avoids a /24 another interface holds,
// and keeps its choice across restarts.
func TestRootAutoSubnet(t *testing.T) {
	e := newRootEnv(t)
	e.cfg.Subnet = AutoSubnet
	seed := "/srv/auto\x00" + e.cfg.Bridge
	taken, err := chooseSubnet(autoPool, seed, e.cfg.Bridge, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What a free host would give: occupy it with another bridge.
	dummy := "bgd" + e.suffix
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", dummy).Run() }) //nolint:noctx // cleanup
	run(t, "ip", "link", "add", dummy, "type", "bridge")
	run(t, "ip", "addr", "add", taken.Addr().Next().String()+"/24", "dev", dummy)
	run(t, "ip", "link", "set", dummy, "up")
	n := e.network(t, WithOwner("/srv/auto"))
	if n.Subnet() == taken || n.Subnet().Overlaps(taken) || !autoPool.Contains(n.Subnet().Addr()) {
		t.Fatalf("auto chose %v; %v is taken by %s", n.Subnet(), taken, dummy)
	}
	if err := n.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	chosen := n.Subnet()
	// The dummy goes; a restarted daemon keeps its subnet (its leases).
	run(t, "ip", "link", "del", dummy)
	if n = e.restart(t, n, WithOwner("/srv/auto")); n.Subnet() != chosen {
		t.Errorf("after a restart: %v, was %v", n.Subnet(), chosen)
	}
	if err := n.Teardown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
