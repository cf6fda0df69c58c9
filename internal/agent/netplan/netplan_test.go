package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/bootcfg"
)

func strs(ops []Op) []string {
	var out []string
	for _, o := range ops {
		out = append(out, o.String())
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		n    *bootcfg.Network
		want []string
	}{
		{"no NIC", nil, []string{"link-up lo"}},
		{"full", &bootcfg.Network{
			Address: netip.MustParsePrefix("10.88.0.5/24"), Gateway: netip.MustParseAddr("10.88.0.1"), MTU: 1400,
		}, []string{"link-up lo", "set-mtu eth0 1400", "add-addr eth0 10.88.0.5/24", "link-up eth0", "default-route eth0 via 10.88.0.1"}},
		{"no gateway, no mtu, by MAC", &bootcfg.Network{
			Address: netip.MustParsePrefix("fd00::5/64"), MAC: "06:00:0a:58:00:05", Interface: "ens3",
		}, []string{"link-up lo", "add-addr ens3[06:00:0a:58:00:05] fd00::5/64", "link-up ens3[06:00:0a:58:00:05]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strs(Plan(tt.n)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Plan = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A held boot's apply sets the MAC first, on the NIC found by its name
// (a restored guest's NIC still has the snapshot's MAC), then plans as
// any boot, finding the NIC by the MAC it now has.
func TestHeldPlan(t *testing.T) {
	tests := []struct {
		name string
		n    *bootcfg.Network
		want []string
	}{
		{"no NIC", nil, []string{"link-up lo"}},
		{"no MAC: as a cold boot", &bootcfg.Network{Address: netip.MustParsePrefix("10.88.0.5/24")},
			[]string{"link-up lo", "add-addr eth0 10.88.0.5/24", "link-up eth0"}},
		{"MAC first", &bootcfg.Network{
			MAC: "06:00:0a:58:00:07", Address: netip.MustParsePrefix("10.88.0.7/24"), Gateway: netip.MustParseAddr("10.88.0.1"), MTU: 1400,
		}, []string{
			"link-up lo", "set-mac eth0 to 06:00:0a:58:00:07", "set-mtu eth0[06:00:0a:58:00:07] 1400",
			"add-addr eth0[06:00:0a:58:00:07] 10.88.0.7/24", "link-up eth0[06:00:0a:58:00:07]", "default-route eth0[06:00:0a:58:00:07] via 10.88.0.1",
		}},
		{"named NIC", &bootcfg.Network{MAC: "06:00:0a:58:00:08", Interface: "ens3", Address: netip.MustParsePrefix("fd00::8/64")},
			[]string{"link-up lo", "set-mac ens3 to 06:00:0a:58:00:08", "add-addr ens3[06:00:0a:58:00:08] fd00::8/64", "link-up ens3[06:00:0a:58:00:08]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strs(HeldPlan(tt.n)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("HeldPlan = %q\nwant %q", got, tt.want)
			}
		})
	}
}

// A fork's re-identify takes the NIC down, flushes what the source's
// identity left on it, gives it the new MAC (found by name: it has the
// source's), then plans as any boot.
func TestReidentifyPlan(t *testing.T) {
	tests := []struct {
		name string
		n    *bootcfg.Network
		want []string
	}{
		{"no NIC", nil, []string{"link-up lo"}},
		{"no MAC", &bootcfg.Network{Address: netip.MustParsePrefix("10.88.0.5/24")},
			[]string{"link-up lo", "link-down eth0", "flush eth0", "add-addr eth0 10.88.0.5/24", "link-up eth0"}},
		{"full", &bootcfg.Network{
			MAC: "06:00:0a:58:00:07", Address: netip.MustParsePrefix("10.88.0.7/24"), Gateway: netip.MustParseAddr("10.88.0.1"), MTU: 1400,
		}, []string{
			"link-up lo", "link-down eth0", "flush eth0", "set-mac eth0 to 06:00:0a:58:00:07", "set-mtu eth0[06:00:0a:58:00:07] 1400",
			"add-addr eth0[06:00:0a:58:00:07] 10.88.0.7/24", "link-up eth0[06:00:0a:58:00:07]", "default-route eth0[06:00:0a:58:00:07] via 10.88.0.1",
		}},
		{"named NIC", &bootcfg.Network{MAC: "06:00:0a:58:00:08", Interface: "ens3", Address: netip.MustParsePrefix("fd00::8/64")},
			[]string{"link-up lo", "link-down ens3", "flush ens3", "set-mac ens3 to 06:00:0a:58:00:08", "add-addr ens3[06:00:0a:58:00:08] fd00::8/64", "link-up ens3[06:00:0a:58:00:08]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strs(ReidentifyPlan(tt.n)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ReidentifyPlan = %q\nwant %q", got, tt.want)
			}
		})
	}
}

type fakeHandle struct {
	calls  []string
	byMAC  map[string]string
	failOn string
}

func (f *fakeHandle) Resolve(name, mac string) (string, error) {
	if mac == "" {
		return name, nil
	}
	if n, ok := f.byMAC[mac]; ok {
		return n, nil
	}
	return "", errors.New("no link with that MAC")
}
func (f *fakeHandle) do(s string) error {
	f.calls = append(f.calls, s)
	if s == f.failOn {
		return errors.New("boom")
	}
	return nil
}
func (f *fakeHandle) LinkUp(n string) error   { return f.do("up " + n) }
func (f *fakeHandle) LinkDown(n string) error { return f.do("down " + n) }
func (f *fakeHandle) Flush(n string) error    { return f.do("flush " + n) }
func (f *fakeHandle) SetMAC(n, mac string) error {
	for m, name := range f.byMAC {
		if name == n {
			delete(f.byMAC, m)
		}
	}
	f.byMAC[mac] = n
	return f.do("mac " + n + " " + mac)
}
func (f *fakeHandle) SetMTU(n string, m int) error { return f.do(fmt.Sprintf("mtu %s %d", n, m)) }
func (f *fakeHandle) AddAddr(n string, a netip.Prefix) error {
	return f.do("addr " + n + " " + a.String())
}
func (f *fakeHandle) DefaultRoute(n string, g netip.Addr) error {
	return f.do("route " + n + " " + g.String())
}

func TestApply(t *testing.T) {
	n := &bootcfg.Network{Address: netip.MustParsePrefix("10.0.0.2/30"), Gateway: netip.MustParseAddr("10.0.0.1"), MAC: "aa:bb:cc:dd:ee:ff", MTU: 9000}
	h := &fakeHandle{byMAC: map[string]string{"aa:bb:cc:dd:ee:ff": "enp0s1"}}
	if err := Apply(Plan(n), h); err != nil {
		t.Fatal(err)
	}
	want := []string{"up lo", "mtu enp0s1 9000", "addr enp0s1 10.0.0.2/30", "up enp0s1", "route enp0s1 10.0.0.1"}
	if !reflect.DeepEqual(h.calls, want) {
		t.Fatalf("calls %q, want %q (the NIC found by MAC)", h.calls, want)
	}
	h = &fakeHandle{byMAC: map[string]string{"aa:bb:cc:dd:ee:ff": "eth0"}, failOn: "addr eth0 10.0.0.2/30"}
	err := Apply(Plan(n), h)
	if err == nil || !strings.Contains(err.Error(), "add-addr eth0") || len(h.calls) != 3 {
		t.Fatalf("Apply must stop at the failing op and name it: %v after %q", err, h.calls)
	}
	if err := Apply(Plan(n), &fakeHandle{}); err == nil || !strings.Contains(err.Error(), "MAC") {
		t.Fatalf("a missing NIC: %v", err)
	}
	// A restored NIC has the snapshot VM's MAC: the held plan renames
	// nothing and finds it by name, then by the MAC it set.
	h = &fakeHandle{byMAC: map[string]string{"06:00:0a:58:00:99": "eth0"}}
	if err := Apply(HeldPlan(n), h); err != nil {
		t.Fatal(err)
	}
	want = []string{"up lo", "mac eth0 aa:bb:cc:dd:ee:ff", "mtu eth0 9000", "addr eth0 10.0.0.2/30", "up eth0", "route eth0 10.0.0.1"}
	if !reflect.DeepEqual(h.calls, want) {
		t.Fatalf("held calls %q, want %q", h.calls, want)
	}
	// A fork's NIC has its source's MAC and is found by name too.
	h = &fakeHandle{byMAC: map[string]string{"06:00:0a:58:00:99": "eth0"}, failOn: "flush eth0"}
	if err := Apply(ReidentifyPlan(n), h); err == nil || !strings.Contains(err.Error(), "flush eth0") {
		t.Fatalf("a failing flush: %v", err)
	}
	if want := []string{"up lo", "down eth0", "flush eth0"}; !reflect.DeepEqual(h.calls, want) {
		t.Fatalf("re-identify calls %q, want %q: nothing after the failing flush", h.calls, want)
	}
}

func TestResolvConf(t *testing.T) {
	if ResolvConf(nil) != nil || ResolvConf(&bootcfg.Network{}) != nil {
		t.Error("no DNS servers must leave resolv.conf alone")
	}
	got := string(ResolvConf(&bootcfg.Network{DNS: []netip.Addr{netip.MustParseAddr("10.88.0.1"), netip.MustParseAddr("fd00::1")}, Search: []string{"banger", "lan"}}))
	if !strings.HasSuffix(got, "nameserver 10.88.0.1\nnameserver fd00::1\nsearch banger lan\n") {
		t.Errorf("resolv.conf:\n%s", got)
	}
	// --dns-search or --dns-option alone write the file too.
	got = string(ResolvConf(&bootcfg.Network{Search: []string{"svc.cluster.local"}, Options: []string{"ndots:5", "edns0"}}))
	if !strings.HasSuffix(got, "\nsearch svc.cluster.local\noptions ndots:5 edns0\n") || strings.Contains(got, "nameserver") {
		t.Errorf("resolv.conf of search and options only:\n%s", got)
	}
}
