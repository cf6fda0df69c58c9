package hostnet

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestParseNetns(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    NetnsTarget
		ok      bool
		wantErr string
	}{
		{in: "", ok: false},
		{in: "none", ok: false},
		{in: "netns:/var/run/netns/pod1", want: NetnsTarget{Path: "/var/run/netns/pod1"}, ok: true},
		{in: "netns:/var/run/netns/pod1:eth0", want: NetnsTarget{Path: "/var/run/netns/pod1", Iface: "eth0"}, ok: true},
		{in: "netns:/proc/1234/ns/net", want: NetnsTarget{Path: "/proc/1234/ns/net"}, ok: true},
		{in: "netns:/proc/1234/ns/net:veth-x", want: NetnsTarget{Path: "/proc/1234/ns/net", Iface: "veth-x"}, ok: true},
		{in: "netns:pod1", ok: true, wantErr: "not an absolute, clean path"},
		{in: "netns:/var/run/../netns/x", ok: true, wantErr: "not an absolute, clean path"},
		{in: "netns:/", ok: true, wantErr: "not an absolute"},
		{in: "netns:", ok: true, wantErr: "not an absolute"},
		{in: "netns:/run/netns/a:", ok: true, wantErr: "interface \"\""},
		{in: "netns:/run/netns/a:averyveryverylongname", ok: true, wantErr: "1..15 characters"},
		{in: "netns:/run/netns/a:b c", ok: true, wantErr: "1..15 characters"},
	} {
		got, ok, err := ParseNetns(tc.in)
		if ok != tc.ok {
			t.Errorf("ParseNetns(%q) ok %v, want %v", tc.in, ok, tc.ok)
		}
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("ParseNetns(%q) error %v, want %q (invalid)", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseNetns(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tc.in)
		}
	}
}

func FuzzParseNetns(f *testing.F) {
	for _, s := range []string{"netns:/var/run/netns/a", "netns:/proc/1/ns/net:eth0", "netns::", "netns:/a:b:c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok, err := ParseNetns(s)
		if !ok || err != nil {
			return
		}
		again, ok2, err2 := ParseNetns(got.String())
		if !ok2 || err2 != nil || again != got {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, got, got.String(), again, err2)
		}
		if strings.ContainsRune(got.Iface, '/') || !filepath.IsAbs(got.Path) {
			t.Fatalf("%q parsed to %+v", s, got)
		}
	})
}

// podState is a namespace as a CNI plugin leaves it: lo, eth0 with an
// address and a default route through its peer.
func podState() nsState {
	return nsState{
		Links: []nsLink{
			{Name: "lo", Loopback: true, MTU: 65536, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}},
			{Name: "eth0", MAC: "0a:58:0a:58:00:05", MTU: 1450, Addrs: []netip.Prefix{netip.MustParsePrefix("10.88.0.5/16")}},
		},
		Routes: []nsRoute{
			{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.88.0.1"), Dev: "eth0"},
			{Dst: netip.MustParsePrefix("10.88.0.0/16"), Dev: "eth0"},
		},
	}
}

func TestPlanNetnsAttach(t *testing.T) {
	const vm = "0123456789abcdef"
	target := NetnsTarget{Path: "/var/run/netns/pod"}
	withTap := podState()
	withTap.Links = append(withTap.Links, nsLink{Name: "bg-0123456789ab", MTU: 1500})
	withTap.Links[1].Ingress, withTap.Links[1].Redirect = true, true
	other := podState()
	other.Links[1].Ingress, other.Links[1].Filters = true, 1
	for _, tc := range []struct {
		name    string
		st      nsState
		ops     []string
		ingress bool
	}{
		{name: "a fresh pod", st: podState(), ingress: true, ops: []string{
			"ip tuntap add bg-0123456789ab mode tap vnet_hdr user 7 group 8; ip link set bg-0123456789ab mtu 1450 up",
			"tc qdisc add dev eth0 ingress",
			"tc qdisc add dev bg-0123456789ab ingress",
			"tc filter add dev bg-0123456789ab parent ffff: prio 2985 protocol all u32 match u32 0 0 action mirred egress redirect dev eth0",
			"tc filter add dev eth0 parent ffff: prio 2985 protocol all u32 match u32 0 0 action mirred egress redirect dev bg-0123456789ab",
		}},
		{name: "what a crash left", st: withTap, ingress: false, ops: []string{
			"tc filter del dev eth0 parent ffff: prio 2985",
			"ip link del bg-0123456789ab",
			"ip tuntap add bg-0123456789ab mode tap vnet_hdr user 7 group 8; ip link set bg-0123456789ab mtu 1450 up",
			"tc qdisc add dev bg-0123456789ab ingress",
			"tc filter add dev bg-0123456789ab parent ffff: prio 2985 protocol all u32 match u32 0 0 action mirred egress redirect dev eth0",
			"tc filter add dev eth0 parent ffff: prio 2985 protocol all u32 match u32 0 0 action mirred egress redirect dev bg-0123456789ab",
		}},
		{name: "someone else's ingress qdisc", st: other, ingress: false, ops: []string{
			"ip tuntap add bg-0123456789ab mode tap vnet_hdr user 7 group 8; ip link set bg-0123456789ab mtu 1450 up",
			"tc qdisc add dev bg-0123456789ab ingress",
			"tc filter add dev bg-0123456789ab parent ffff: prio 2985 protocol all u32 match u32 0 0 action mirred egress redirect dev eth0",
			"tc filter add dev eth0 parent ffff: prio 2985 protocol all u32 match u32 0 0 action mirred egress redirect dev bg-0123456789ab",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planNetnsAttach(vm, target, tc.st, 7, 8)
			if err != nil {
				t.Fatal(err)
			}
			if got := opStrings(p.Ops); !slices.Equal(got, tc.ops) {
				t.Errorf("ops\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.ops, "\n"))
			}
			want := NetnsHandles{Path: target.Path, Tap: "bg-0123456789ab", Veth: "eth0", Ingress: tc.ingress}
			if p.Handles != want {
				t.Errorf("handles %+v, want %+v", p.Handles, want)
			}
			g := p.Guest
			if g.IP.String() != "10.88.0.5" || g.Subnet.String() != "10.88.0.0/16" || g.Gateway.String() != "10.88.0.1" ||
				g.MAC != "0a:58:0a:58:00:05" || g.MTU != 1450 || g.Tap != "bg-0123456789ab" || g.Netns != target.Path || g.VMID != vm {
				t.Errorf("guest %+v", g)
			}
		})
	}
}

func TestPlanNetnsAttachRefuses(t *testing.T) {
	two := podState()
	two.Links = append(two.Links, nsLink{Name: "net1", MAC: "02:00:00:00:00:01", MTU: 1500})
	noAddr := podState()
	noAddr.Links[1].Addrs = nil
	noMAC := podState()
	noMAC.Links[1].MAC = ""
	taken := podState()
	taken.Links = append(taken.Links, nsLink{Name: "bg-ffffffffffff"})
	for _, tc := range []struct {
		name  string
		st    nsState
		iface string
		want  string
		kind  error
	}{
		{"two interfaces", two, "", "found 2 (eth0, net1); name one: netns:/run/netns/p:IFACE", errdefs.ErrInvalid},
		{"no interface", nsState{Links: podState().Links[:1]}, "", "found 0", errdefs.ErrInvalid},
		{"unknown interface", podState(), "eth9", "interface eth9: not found (it has lo, eth0)", errdefs.ErrNotFound},
		{"loopback named", podState(), "lo", "interface lo", errdefs.ErrNotFound},
		{"no address", noAddr, "", "has no IPv4 address", errdefs.ErrInvalid},
		{"no MAC", noMAC, "", "no Ethernet address", errdefs.ErrInvalid},
		{"another VM's tap", taken, "", "tap bg-ffffffffffff of another banger VM", errdefs.ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := planNetnsAttach("0123456789ab", NetnsTarget{Path: "/run/netns/p", Iface: tc.iface}, tc.st, 0, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, tc.kind) {
				t.Errorf("error %v, want %q (%v)", err, tc.want, tc.kind)
			}
		})
	}
	// Two interfaces, one named: fine, and the gateway is that one's.
	p, err := planNetnsAttach("0123456789ab", NetnsTarget{Path: "/run/netns/p", Iface: "eth0"}, two, 0, 0)
	if err != nil || p.Handles.Veth != "eth0" {
		t.Errorf("named eth0: %+v, %v", p.Handles, err)
	}
	// No default route: the guest gets none.
	bare := podState()
	bare.Routes = bare.Routes[1:]
	if p, err := planNetnsAttach("0123456789ab", NetnsTarget{Path: "/run/netns/p"}, bare, 0, 0); err != nil || p.Guest.Gateway.IsValid() {
		t.Errorf("no default route: gateway %v, %v", p.Guest.Gateway, err)
	}
}

func TestNetnsDetachOps(t *testing.T) {
	h := NetnsHandles{Path: "/run/netns/p", Tap: "bg-0123456789ab", Veth: "eth0", Ingress: true}
	attached := podState()
	attached.Links[1].Ingress, attached.Links[1].Redirect = true, true
	attached.Links = append(attached.Links, nsLink{Name: "bg-0123456789ab", Ingress: true, Redirect: true})
	shared := podState()
	shared.Links[1].Ingress, shared.Links[1].Redirect, shared.Links[1].Filters = true, true, 1
	for _, tc := range []struct {
		name string
		h    NetnsHandles
		st   nsState
		want []string
	}{
		{"attached", h, attached, []string{"tc filter del dev eth0 parent ffff: prio 2985", "tc qdisc del dev eth0 ingress", "ip link del bg-0123456789ab"}},
		{"the qdisc was there before", NetnsHandles{Path: h.Path, Tap: h.Tap, Veth: h.Veth}, attached, []string{"tc filter del dev eth0 parent ffff: prio 2985", "ip link del bg-0123456789ab"}},
		{"someone filters there too", h, shared, []string{"tc filter del dev eth0 parent ffff: prio 2985"}},
		{"nothing left", h, podState(), nil},
		{"by the id alone (Sweep)", NetnsHandles{Path: h.Path, Tap: h.Tap}, attached, []string{"tc filter del dev eth0 parent ffff: prio 2985", "ip link del bg-0123456789ab"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := opStrings(netnsDetachOps(tc.h, tc.st)); !slices.Equal(got, tc.want) {
				t.Errorf("ops %q, want %q", got, tc.want)
			}
		})
	}
}

// fakeNs is a namespace edge over one state, applying what it is asked.
type fakeNs struct {
	st      nsState
	ino     uint64
	applied [][]string
	fail    string // an op that fails
}

func (f *fakeNs) state(_ context.Context, _ string, ino uint64) (nsState, uint64, error) {
	if ino != 0 && ino != f.ino {
		return nsState{}, 0, errdefs.ErrNotFound
	}
	return f.st, f.ino, nil
}

func (f *fakeNs) apply(_ context.Context, _ string, _ uint64, ops []linkOp) error {
	f.applied = append(f.applied, opStrings(ops))
	for _, o := range ops {
		if f.fail != "" && strings.HasPrefix(o.String(), f.fail) {
			return errors.New("boom")
		}
	}
	return nil
}

func (f *fakeNs) named() []string { return nil }

func (f *fakeNs) netBytes(string, string) (uint64, uint64, error) { return 0, 0, errors.New("fake") }

func TestNamespacesAttachOrder(t *testing.T) {
	f := &fakeNs{st: podState(), ino: 42}
	x := &Namespaces{edge: f, resolvConf: "/nonexistent", confDir: t.TempDir()}
	// A failed record creates nothing.
	if _, err := x.Attach(context.Background(), "0123456789ab", NetnsTarget{Path: "/run/netns/p"}, func(NetnsHandles) error { return errors.New("disk full") }); err == nil || len(f.applied) != 0 {
		t.Fatalf("failed record: %v, applied %q", err, f.applied)
	}
	// A failed op is undone from the record.
	f.fail = "tc filter add dev eth0"
	var h NetnsHandles
	if _, err := x.Attach(context.Background(), "0123456789ab", NetnsTarget{Path: "/run/netns/p"}, func(r NetnsHandles) error { h = r; return nil }); err == nil {
		t.Fatal("attach with a failing op succeeded")
	}
	if h.Inode != 42 || len(f.applied) != 2 {
		t.Fatalf("handles %+v, applied %q", h, f.applied)
	}
	// A namespace that is no longer the recorded one: nothing to do.
	f.ino = 43
	if err := x.Detach(context.Background(), h); err != nil || len(f.applied) != 2 {
		t.Errorf("detach from a gone namespace: %v, applied %q", err, f.applied)
	}
}

func TestNamespacesGuestDNS(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(host, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "netns", "pod"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "netns", "pod", "resolv.conf"), []byte("nameserver 10.96.0.10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	x := &Namespaces{resolvConf: host, confDir: filepath.Join(dir, "netns")}
	for path, want := range map[string]string{
		"/var/run/netns/pod":   "[10.96.0.10]",
		"/run/netns/pod":       "[10.96.0.10]",
		"/var/run/netns/other": "[192.0.2.53]", // the host's, loopback dropped
		"/proc/1/ns/net":       "[192.0.2.53]",
	} {
		if got := fmtAddrs(x.guestDNS(path)); got != want {
			t.Errorf("guestDNS(%s) = %s, want %s", path, got, want)
		}
	}
	// Only a loopback stub: nothing the guest could reach.
	if err := os.WriteFile(host, []byte("nameserver 127.0.0.53\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := x.guestDNS("/proc/1/ns/net"); got != nil {
		t.Errorf("guestDNS with a loopback stub = %v, want none", got)
	}
}

func fmtAddrs(a []netip.Addr) string {
	var s []string
	for _, x := range a {
		s = append(s, x.String())
	}
	return "[" + strings.Join(s, " ") + "]"
}
