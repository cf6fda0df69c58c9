package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestLeaseAllocatesInOrderAndKeeps(t *testing.T) {
	n, _ := fakeNetwork(t, nil)
	ctx := context.Background()
	a, err := n.Lease(ctx, "vma")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := n.Lease(ctx, "vmb")
	want := Lease{
		VMID: "vma", IP: netip.MustParseAddr("10.213.0.2"), Subnet: netip.MustParsePrefix("10.213.0.0/20"),
		Gateway: netip.MustParseAddr("10.213.0.1"), MAC: MAC("vma").String(), Tap: "bg-vma", MTU: 1500,
		DNS: []netip.Addr{netip.MustParseAddr("10.255.255.53")}, Created: a.Created,
	}
	if fmt.Sprint(a) != fmt.Sprint(want) || a.Created.IsZero() {
		t.Fatalf("lease:\n%+v\nwant:\n%+v", a, want)
	}
	if b.IP != netip.MustParseAddr("10.213.0.3") || a.Address().String() != "10.213.0.2/20" {
		t.Fatalf("second lease %s, address %s", b.IP, a.Address())
	}
	again, _ := n.Lease(ctx, "vma")
	if again.IP != a.IP || !again.Created.Equal(a.Created) {
		t.Fatalf("lease not kept: %+v vs %+v", again, a)
	}
	if err := n.Release(ctx, "vma"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.LeaseOf("vma"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("released lease still there: %v", err)
	}
	c, _ := n.Lease(ctx, "vmc")
	if c.IP != a.IP {
		t.Fatalf("freed address not reused: %s", c.IP)
	}
}

// A new Network on a reopened store (a daemon restart) sees the same
// leases.
func TestLeaseSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Default().Network
	st := openStore(t, dir)
	n1, _ := New(cfg, st, withEdges(&fakeHost{}, &fakeHost{}))
	l1, err := n1.Lease(context.Background(), "vm1")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	n2, _ := New(cfg, openStore(t, dir), withEdges(&fakeHost{}, &fakeHost{}))
	l2, err := n2.LeaseOf("vm1")
	if err != nil || l2.IP != l1.IP || l2.MAC != l1.MAC {
		t.Fatalf("after restart: %+v, %v; want %+v", l2, err, l1)
	}
}

func TestLeaseConcurrentNoDuplicates(t *testing.T) {
	n, _ := fakeNetwork(t, nil)
	const vms = 50
	var wg sync.WaitGroup
	ips := make([]netip.Addr, vms)
	errs := make([]error, vms)
	for i := range vms {
		wg.Go(func() {
			l, err := n.Lease(context.Background(), fmt.Sprintf("vm%02d", i))
			ips[i], errs[i] = l.IP, err
		})
	}
	wg.Wait()
	seen := map[netip.Addr]int{}
	for i, ip := range ips {
		if errs[i] != nil {
			t.Fatalf("vm%02d: %v", i, errs[i])
		}
		if j, dup := seen[ip]; dup {
			t.Fatalf("vm%02d and vm%02d both got %s", j, i, ip)
		}
		seen[ip] = i
	}
	all, _ := n.Leases()
	if len(all) != vms {
		t.Fatalf("%d leases stored, want %d", len(all), vms)
	}
}

func TestLeaseRefusals(t *testing.T) {
	ctx := context.Background()
	n, _ := fakeNetwork(t, func(c *config.Network) { c.Subnet = "10.213.0.0/29" })
	for i := range 5 { // .2 .. .6; .0 network, .1 gateway, .7 broadcast
		if _, err := n.Lease(ctx, fmt.Sprint("vm", i)); err != nil {
			t.Fatalf("lease %d of 5: %v", i, err)
		}
	}
	if _, err := n.Lease(ctx, "vm5"); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("full subnet: %v", err)
	}
	if _, err := n.Lease(ctx, "bad id"); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}

	n2, _ := fakeNetwork(t, nil)
	if _, err := n2.Lease(ctx, "0123456789abX"); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Lease(ctx, "0123456789abY"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("two ids with one tap name: %v", err)
	}
}

// A lease from an old subnet moves into the configured one.
func TestLeaseMovesWithSubnet(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	cfg := config.Default().Network
	old, _ := New(cfg, st, withEdges(&fakeHost{}, &fakeHost{}))
	if _, err := old.Lease(context.Background(), "vm1"); err != nil {
		t.Fatal(err)
	}
	cfg.Subnet = "10.214.0.0/24"
	moved, _ := New(cfg, st, withEdges(&fakeHost{}, &fakeHost{}))
	l, err := moved.Lease(context.Background(), "vm1")
	if err != nil || l.IP != netip.MustParseAddr("10.214.0.2") {
		t.Fatalf("moved lease: %+v, %v", l, err)
	}
}
