package hostnet

import (
	"net/netip"
	"os"
	"slices"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func testNetConfig() netConfig {
	return netConfig{
		Bridge: "banger0", Subnet: netip.MustParsePrefix("10.213.0.0/20"), Gateway: netip.MustParseAddr("10.213.0.1"),
		Table: "banger", MTU: 1500, IsolateVMs: true,
	}
}

func opStrings(ops []linkOp) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.String()
	}
	return out
}

func TestSetupOps(t *testing.T) {
	mac := bridgeMAC("banger0")
	tests := []struct {
		name string
		st   hostState
		want []string
	}{
		{
			name: "fresh host",
			st:   hostState{IPForward: "0"},
			want: []string{
				"ip link add banger0 type bridge mtu 1500 address " + mac.String(),
				"ip addr add 10.213.0.1/20 dev banger0",
				"ip link set banger0 up",
				"sysctl -w net/ipv4/ip_forward=1",
				"sysctl -w net/ipv4/conf/banger0/route_localnet=1",
			},
		},
		{
			name: "already set up",
			st: hostState{
				IPForward: "1",
				Bridge:    &bridgeState{MTU: 1500, MAC: mac, Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.213.0.1/20")}},
				Taps:      []TapInfo{{Name: "bg-a", Bridge: "banger0", Isolated: true}},
			},
			want: []string{"sysctl -w net/ipv4/conf/banger0/route_localnet=1"},
		},
		{
			name: "subnet, mtu and isolation changed; a foreign tap is left alone",
			st: hostState{
				IPForward: "1",
				Bridge:    &bridgeState{MTU: 9000, MAC: mac, Up: false, Addrs: []netip.Prefix{netip.MustParsePrefix("10.99.0.1/24")}},
				Taps: []TapInfo{
					{Name: "bg-a", Bridge: "banger0", Isolated: false},
					{Name: "bg-b", Bridge: "banger0", Isolated: true},
					{Name: "bg-c", Bridge: "other0", Isolated: false},
				},
			},
			want: []string{
				"ip link set banger0 mtu 1500 address " + mac.String(),
				"ip addr del 10.99.0.1/24 dev banger0",
				"ip addr add 10.213.0.1/20 dev banger0",
				"ip link set banger0 up",
				"sysctl -w net/ipv4/conf/banger0/route_localnet=1",
				"bridge link set dev bg-a isolated on",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := opStrings(setupOps(testNetConfig(), tt.st))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ops:\n%q\nwant:\n%q", got, tt.want)
			}
		})
	}
}

func TestAttachOps(t *testing.T) {
	c := testNetConfig()
	c.TapUID, c.TapGID = 1000, 1001
	fresh := opStrings(attachOps(c, "0123456789abcdef", hostState{}))
	want := []string{"ip tuntap add bg-0123456789ab mode tap vnet_hdr user 1000 group 1001; ip link set bg-0123456789ab mtu 1500 master banger0 up; bridge link set dev bg-0123456789ab isolated on"}
	if !slices.Equal(fresh, want) {
		t.Fatalf("fresh:\n%q\nwant:\n%q", fresh, want)
	}
	stale := opStrings(attachOps(c, "0123456789abcdef", hostState{Taps: []TapInfo{{Name: "bg-0123456789ab"}}}))
	if !slices.Equal(stale, append([]string{"ip link del bg-0123456789ab"}, want...)) {
		t.Fatalf("stale tap not replaced: %q", stale)
	}
}

func TestCheckOverlap(t *testing.T) {
	subnet := netip.MustParsePrefix("10.213.0.0/20")
	tests := []struct {
		name   string
		routes []Route
		ok     bool
	}{
		{"default route only", []Route{{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: "eth0"}}, true},
		{"disjoint", []Route{{Dst: netip.MustParsePrefix("192.0.2.0/24"), Dev: "eth0"}}, true},
		{"our own bridge", []Route{{Dst: subnet, Dev: "banger0"}}, true},
		{"inside", []Route{{Dst: netip.MustParsePrefix("10.213.4.0/24"), Dev: "wg0"}}, false},
		{"around", []Route{{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "eth1"}}, false},
		{"stale banger bridge of another name", []Route{{Dst: subnet, Dev: "banger1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkOverlap(subnet, "banger0", tt.routes)
			if (err == nil) != tt.ok {
				t.Fatalf("checkOverlap = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	if got := TapName("0123456789abcdef"); got != "bg-0123456789ab" || len(got) > 15 {
		t.Fatalf("TapName = %q", got)
	}
	if got := TapName("short"); got != "bg-short" {
		t.Fatalf("TapName(short) = %q", got)
	}
	a, b := MAC("vm-a"), MAC("vm-b")
	if a.String() == b.String() || a.String() != MAC("vm-a").String() {
		t.Fatalf("MAC not derived per id: %s %s", a, b)
	}
	if a[0]&0x02 == 0 || a[0]&0x01 != 0 {
		t.Fatalf("MAC %s is not locally administered unicast", a)
	}
	for _, bad := range []string{"", "-x", "a b", "a/b", "é", string(make([]byte, 65))} {
		if checkVMID(bad) == nil {
			t.Errorf("checkVMID(%q) accepted", bad)
		}
	}
}
