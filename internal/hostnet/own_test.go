package hostnet

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestOwnNetwork(t *testing.T) {
	def := config.Default().Network
	none := func(string) bool { return false }
	got := OwnNetwork(def, "/srv/a", none)
	tag := ownerTag("/srv/a")
	if got.Bridge != "bgr-"+tag || got.NftTable != "banger_"+tag || got.Subnet != AutoSubnet || len(got.Bridge) > 15 {
		t.Errorf("defaults under a root: %+v", got)
	}
	if other := OwnNetwork(def, "/srv/b", none); other.Bridge == got.Bridge || other.NftTable == got.NftTable {
		t.Errorf("two roots share a network: %+v and %+v", got, other)
	}
	// What the config names stays, even when it names the default.
	set := func(k string) bool { return k == "network.bridge" }
	mine := def
	mine.NftTable, mine.Subnet = "mytable", "10.50.0.0/24"
	if got := OwnNetwork(mine, "/srv/a", set); got.Bridge != "banger0" || got.NftTable != "mytable" || got.Subnet != "10.50.0.0/24" {
		t.Errorf("explicit settings changed: %+v", got)
	}
}

func TestChooseSubnet(t *testing.T) {
	pool := netip.MustParsePrefix("10.218.0.0/15")
	first, err := chooseSubnet(pool, "seed", "br", nil, nil)
	if err != nil || !pool.Contains(first.Addr()) || first.Bits() != 24 {
		t.Fatalf("free host: %v, %v", first, err)
	}
	if again, _ := chooseSubnet(pool, "seed", "br", nil, nil); again != first {
		t.Errorf("not stable: %v then %v", first, again)
	}
	// A route on another interface over it, or a host address in it,
	// moves the choice; a route on our own bridge and the default route
	// do not.
	next, _ := chooseSubnet(pool, "seed", "br", []Route{{Dst: first, Dev: "eth1"}}, nil)
	byAddr, _ := chooseSubnet(pool, "seed", "br", nil, []netip.Addr{first.Addr().Next()})
	own, _ := chooseSubnet(pool, "seed", "br", []Route{{Dst: first, Dev: "br"}, {Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"}}, nil)
	if next == first || byAddr == first || own != first {
		t.Errorf("first %v; with a route %v, with an address %v, with own routes %v", first, next, byAddr, own)
	}
	// A /16 route over half the pool pushes the choice into the other half.
	half := netip.MustParsePrefix(first.Masked().Addr().String() + "/16").Masked()
	if got, _ := chooseSubnet(pool, "seed", "br", []Route{{Dst: half, Dev: "vpn0"}}, nil); half.Overlaps(got) {
		t.Errorf("chose %v inside the routed %v", got, half)
	}
	if _, err := chooseSubnet(pool, "seed", "br", []Route{{Dst: pool, Dev: "vpn0"}}, nil); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("a full pool: %v", err)
	}
}

func TestCheckOwner(t *testing.T) {
	c := netConfig{Bridge: "banger0", Table: "banger"}
	for _, tt := range []struct {
		name   string
		alias  string
		chains []string
		want   string
	}{
		{name: "fresh host"},
		{name: "ours", alias: OwnerMark("/me"), chains: []string{"input", ownerChain("/me")}},
		{name: "unmarked bridge of an older banger", alias: "", chains: []string{"input"}},
		{name: "another daemon's bridge", alias: OwnerMark("/other"), want: "belongs to the banger daemon of /other"},
		{name: "another daemon's table", chains: []string{ownerChain("/other")}, want: "another banger daemon owns it"},
	} {
		err := checkOwner("/me", c, tt.alias, tt.chains)
		if (tt.want == "") != (err == nil) || (err != nil && (!errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "[network] bridge"))) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
}

// Setup marks the bridge and the table, and refuses another daemon's.
func TestSetupMarksAndRefusesAnotherOwner(t *testing.T) {
	n, f := fakeNetwork(t, nil)
	n.cfg.Owner = "/var/lib/banger"
	if err := n.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f.st.Bridge.Alias != OwnerMark("/var/lib/banger") {
		t.Errorf("bridge alias %q", f.st.Bridge.Alias)
	}
	if _, ok := f.nftChains[ownerChain("/var/lib/banger")]; !ok {
		t.Errorf("table chains %v lack the owner's", f.nftChains)
	}
	f.takeLog()
	n.cfg.Owner = "/tmp/other"
	err := n.Setup(context.Background())
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "/var/lib/banger") {
		t.Fatalf("second owner's Setup: %v", err)
	}
	if log := f.takeLog(); len(log) != 0 {
		t.Errorf("refused Setup changed the host: %q", log)
	}
}
