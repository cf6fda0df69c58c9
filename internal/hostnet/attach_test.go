package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// freePort returns a TCP port nothing on the host listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func TestSetupAndTeardownSequence(t *testing.T) {
	n, f := fakeNetwork(t, nil)
	ctx := context.Background()
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	want := append(opStrings(setupOps(n.cfg, hostState{IPForward: "0"})), "nft ensure inet banger", "nft ensure bridge banger")
	if got := f.takeLog(); !slices.Equal(got, want) {
		t.Fatalf("setup:\n%q\nwant:\n%q", got, want)
	}
	// A second Setup (daemon restart) finds forwarding on and must not
	// forget that banger turned it on.
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	f.takeLog()
	if err := n.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	want = []string{"nft delete table", "ip link del banger0", "sysctl -w net/ipv4/ip_forward=0"}
	if got := f.takeLog(); !slices.Equal(got, want) {
		t.Fatalf("teardown:\n%q\nwant:\n%q", got, want)
	}
	// Nothing recorded any more: a second Teardown leaves forwarding alone.
	_ = n.Teardown(ctx)
	if got := f.takeLog(); slices.Contains(got, "sysctl -w net/ipv4/ip_forward=0") {
		t.Fatalf("second teardown restored ip_forward again: %q", got)
	}
}

func TestSetupRefusesOverlap(t *testing.T) {
	n, f := fakeNetwork(t, nil)
	f.st.Routes = []Route{{Dst: n.cfg.Subnet, Dev: "eth1"}}
	err := n.Setup(context.Background())
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "overlaps the route to 10.213.0.0/20 via eth1") {
		t.Fatalf("Setup = %v", err)
	}
	if log := f.takeLog(); len(log) != 0 {
		t.Fatalf("refused setup still changed the host: %q", log)
	}
}

// record sees every resource before it exists.
func TestAttachRecordsBeforeCreating(t *testing.T) {
	n, f := setUpFake(t)
	ctx := context.Background()
	port := freePort(t)
	var calls []Resources
	record := func(r Resources) error {
		st, _ := f.state(ctx, "banger0")
		tapExists := slices.ContainsFunc(st.Taps, func(ti TapInfo) bool { return ti.Name == r.Tap })
		_, rules, _ := f.rules(ctx, "banger")
		switch len(calls) {
		case 0:
			if tapExists {
				t.Error("tap created before it was recorded")
			}
		case 1:
			if !tapExists || len(rules) != len(basePlan(n.cfg.params(false)).Rules)+len(bridgePlan("banger").Rules) {
				t.Errorf("second record: tap %v, %d rules", tapExists, len(rules))
			}
		}
		calls = append(calls, r)
		return nil
	}
	att, err := n.Attach(ctx, "vm1", []Port{{HostPort: port, GuestPort: 80}}, record)
	if err != nil {
		t.Fatal(err)
	}
	ports := []Port{{HostPort: port, GuestPort: 80, Protocol: "tcp"}}
	want := []Resources{
		{Tap: "bg-vm1", IP: "10.213.0.2", MAC: MAC("vm1").String()},
		{Tap: "bg-vm1", IP: "10.213.0.2", MAC: MAC("vm1").String(), Table: "banger", Marker: "banger:vm1", Ports: ports},
	}
	if fmt.Sprint(calls) != fmt.Sprint(want) || fmt.Sprint(att.Resources) != fmt.Sprint(want[1]) {
		t.Fatalf("record calls:\n%+v\nwant:\n%+v", calls, want)
	}
	mac := MAC("vm1")
	wantLog := append(opStrings(attachOps(n.cfg, "vm1", hostState{})),
		fmt.Sprintf(`nft add iifname "bg-vm1" ether saddr %s arp saddr ether %s arp saddr ip 10.213.0.2 accept comment "banger:vm1"`, mac, mac),
		fmt.Sprintf(`nft add iifname "bg-vm1" ether saddr %s ip saddr 10.213.0.2 accept comment "banger:vm1"`, mac),
		`nft add iifname "bg-vm1" drop comment "banger:vm1"`,
		fmt.Sprintf(`nft add tcp dport %d dnat ip to 10.213.0.2:80 comment "banger:vm1"`, port))
	if got := f.takeLog(); !slices.Equal(got, wantLog) {
		t.Fatalf("attach:\n%q\nwant:\n%q", got, wantLog)
	}
	if l, _ := n.LeaseOf("vm1"); !slices.Equal(l.Ports, ports) || !slices.Equal(att.Lease.Ports, ports) {
		t.Fatalf("ports not on the lease: %+v", l.Ports)
	}

	// Detach needs only the id, and twice is fine.
	for range 2 {
		if err := n.Detach(ctx, "vm1"); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := n.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o := inv.Of("vm1"); len(o.Taps)+len(o.Rules) != 0 || o.Lease == nil || len(o.Lease.Ports) != 0 {
		t.Fatalf("after detach: %+v", o)
	}
	if err := n.Release(ctx, "vm1"); err != nil {
		t.Fatal(err)
	}
	inv, _ = n.Inventory(ctx)
	if err := inv.Of("vm1").Err(); err != nil {
		t.Fatalf("after release, left: %v", err)
	}
}

func TestAttachUndoesOnFailure(t *testing.T) {
	tests := []struct {
		name     string
		failOn   string
		recordOK int // record calls that succeed
	}{
		{name: "record of the tap fails", recordOK: 0},
		{name: "record of the rules fails", recordOK: 1},
		{name: "nft add fails", failOn: "nft add", recordOK: 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, f := setUpFake(t)
			ctx := context.Background()
			f.failOn = tt.failOn
			calls := 0
			record := func(Resources) error {
				calls++
				if calls > tt.recordOK {
					return errors.New("disk full")
				}
				return nil
			}
			_, err := n.Attach(ctx, "vm1", []Port{{HostPort: freePort(t), GuestPort: 80}}, record)
			if err == nil {
				t.Fatal("Attach succeeded")
			}
			inv, _ := n.Inventory(ctx)
			o := inv.Of("vm1")
			if len(o.Taps)+len(o.Rules) != 0 || o.Lease == nil || len(o.Lease.Ports) != 0 {
				t.Fatalf("failed attach left %+v (err %v)", o, err)
			}
		})
	}
}

func TestAttachPortConflicts(t *testing.T) {
	n, _ := setUpFake(t)
	ctx := context.Background()
	nop := func(Resources) error { return nil }
	port := freePort(t)
	if _, err := n.Attach(ctx, "vma", []Port{{HostPort: port, GuestPort: 80}}, nop); err != nil {
		t.Fatal(err)
	}
	_, err := n.Attach(ctx, "vmb", []Port{{HostIP: "127.0.0.1", HostPort: port, GuestPort: 81}}, nop)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "vm vma already publishes") {
		t.Fatalf("second VM on the same port: %v", err)
	}
	if err := n.Detach(ctx, "vma"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Attach(ctx, "vmb", []Port{{HostIP: "127.0.0.1", HostPort: port, GuestPort: 81}}, nop); err != nil {
		t.Fatalf("port freed by Detach: %v", err)
	}

	// A host program on the port.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	busy := l.Addr().(*net.TCPAddr).Port
	_, err = n.Attach(ctx, "vmc", []Port{{HostPort: busy, GuestPort: 80}}, nop)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "already uses") {
		t.Fatalf("port in use on the host: %v", err)
	}
	_, err = n.Attach(ctx, "vmc", []Port{{HostIP: "192.0.2.123", HostPort: port + 1, GuestPort: 80}}, nop)
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "not an address of this host") {
		t.Fatalf("foreign host address: %v", err)
	}
}

// What no known VM owns is found and removed; what a known VM owns stays.
func TestOrphans(t *testing.T) {
	n, f := setUpFake(t)
	ctx := context.Background()
	nop := func(Resources) error { return nil }
	for _, id := range []string{"keep", "gone"} {
		if _, err := n.Attach(ctx, id, []Port{{HostPort: freePort(t), GuestPort: 80}}, nop); err != nil {
			t.Fatal(err)
		}
	}
	f.st.Taps = append(f.st.Taps, TapInfo{Name: "bg-stray", Bridge: "banger0"}) // no lease, no VM
	inv, err := n.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o := inv.Orphans([]string{"keep"})
	var names []string
	for _, tp := range o.Taps {
		names = append(names, tp.Name)
	}
	slices.Sort(names)
	// Each VM has three anti-spoofing rules and one published port.
	if !slices.Equal(names, []string{"bg-gone", "bg-stray"}) || len(o.Rules) != 4 || o.Rules[0].VMID != "gone" || len(o.Leases) != 1 || o.Leases[0].VMID != "gone" {
		t.Fatalf("orphans: %+v", o)
	}
	if err := n.Remove(ctx, o); err != nil {
		t.Fatal(err)
	}
	inv, _ = n.Inventory(ctx)
	if err := inv.Orphans([]string{"keep"}).Err(); err != nil {
		t.Fatalf("left after Remove: %v", err)
	}
	if k := inv.Of("keep"); len(k.Taps) != 1 || len(k.Rules) != 4 || k.Lease == nil {
		t.Fatalf("Remove touched a known VM: %+v", k)
	}
}
