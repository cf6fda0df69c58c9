package testutil

import (
	"net/netip"
	"testing"
)

// A /proc/net/route with a default route and a test bridge's
// 10.215.128.0/24.
const routeTable = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	0100A8C0	0003	0	0	0	00000000	0	0	0
bge8035b5	0080D70A	00000000	0001	0	0	0	00FFFFFF	0	0	0
`

func TestRouted(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		want   bool
	}{
		{"10.215.128.0/24", true},
		{"10.215.129.0/24", false},
		{"10.215.0.0/16", true},
		{"192.168.0.0/24", false}, // only the default route: not counted
	} {
		if got := routed(routeTable, netip.MustParsePrefix(tc.prefix)); got != tc.want {
			t.Errorf("routed(%s) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
}
