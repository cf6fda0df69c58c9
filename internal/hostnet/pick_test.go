package hostnet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// busyOn is a fake "in use" edge: the host ports a host program holds.
func busyOn(ports ...int) func(Port) error {
	return func(p Port) error {
		if slices.Contains(ports, p.HostPort) {
			return fmt.Errorf("publish %s: %w: in use on the host", FormatPort(p), errdefs.ErrConflict)
		}
		return nil
	}
}

func TestPickPorts(t *testing.T) {
	r := PortRange{First: 100, Last: 104}
	tcp := func(host, guest int) Port { return Port{HostPort: host, GuestPort: guest, Protocol: "tcp"} }
	udp := func(host, guest int) Port { return Port{HostPort: host, GuestPort: guest, Protocol: "udp"} }
	tests := []struct {
		name  string
		ports []Port
		taken []Port
		busy  []int
		start int
		want  []int // host ports picked, in order
		err   string
	}{
		{name: "first of the range", ports: []Port{tcp(0, 80)}, want: []int{100}},
		{name: "start folds into the range", ports: []Port{tcp(0, 80)}, start: 7, want: []int{102}},
		{name: "negative start", ports: []Port{tcp(0, 80)}, start: -1, want: []int{104}},
		{name: "wraps around", ports: []Port{tcp(0, 80), tcp(0, 81)}, start: 4, want: []int{104, 100}},
		{name: "fixed ports kept", ports: []Port{tcp(8080, 80), tcp(0, 81)}, want: []int{8080, 100}},
		{name: "skips another vm's", ports: []Port{tcp(0, 80)}, taken: []Port{tcp(100, 1), tcp(101, 1)}, want: []int{102}},
		{name: "another vm's on another protocol is free", ports: []Port{tcp(0, 80)}, taken: []Port{udp(100, 1)}, want: []int{100}},
		{name: "skips its own fixed port", ports: []Port{tcp(0, 80), tcp(100, 81)}, want: []int{101, 100}},
		{name: "skips a host listener", ports: []Port{tcp(0, 80)}, busy: []int{100, 101}, want: []int{102}},
		{name: "two random get two ports", ports: []Port{tcp(0, 80), tcp(0, 443)}, want: []int{100, 101}},
		{name: "one address's port is free on another", ports: []Port{{HostIP: "127.0.0.1", GuestPort: 80, Protocol: "tcp"}},
			taken: []Port{{HostIP: "127.0.0.2", HostPort: 100, GuestPort: 1, Protocol: "tcp"}}, want: []int{100}},
		{name: "every address's port is taken on one", ports: []Port{{HostIP: "127.0.0.1", GuestPort: 80, Protocol: "tcp"}},
			taken: []Port{tcp(100, 1)}, want: []int{101}},
		{name: "exhausted", ports: []Port{tcp(0, 80)}, taken: []Port{tcp(100, 1), tcp(101, 1)}, busy: []int{102, 103, 104},
			err: "publish 80/tcp: unavailable: no free host port in 100-104"},
		{name: "nothing to pick", ports: []Port{tcp(8080, 80)}, busy: []int{8080}, want: []int{8080}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickPorts(tt.ports, tt.taken, r, tt.start, busyOn(tt.busy...))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, errdefs.ErrUnavailable) {
					t.Fatalf("pickPorts = %+v, %v; want ErrUnavailable %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var hosts []int
			for i, p := range got {
				hosts = append(hosts, p.HostPort)
				if q := tt.ports[i]; p.GuestPort != q.GuestPort || p.HostIP != q.HostIP || p.Protocol != q.Protocol {
					t.Errorf("mapping %d changed beyond its host port: %+v -> %+v", i, q, p)
				}
			}
			if !slices.Equal(hosts, tt.want) {
				t.Fatalf("host ports = %v, want %v", hosts, tt.want)
			}
			if tt.ports[0].HostPort == 0 && got[0].HostPort == 0 {
				t.Fatal("the input was picked in place")
			}
		})
	}
}

func TestLocalPortRange(t *testing.T) {
	dir := t.TempDir()
	for in, want := range map[string]PortRange{
		"32768\t60999\n": {32768, 60999},
		"1024 1024":      {1024, 1024},
		"":               defaultPortRange,
		"5 x":            defaultPortRange,
		"6000 5000":      defaultPortRange,
		"0 70000":        defaultPortRange,
	} {
		p := filepath.Join(dir, "range")
		if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := localPortRange(p); got != want {
			t.Errorf("localPortRange(%q) = %v, want %v", in, got, want)
		}
	}
	if got := localPortRange(filepath.Join(dir, "missing")); got != defaultPortRange {
		t.Errorf("missing file: %v", got)
	}
}

// TestAttachPicksPorts: a mapping without a host port gets a free one of
// the range, recorded before its DNAT rule exists, different from another
// VM's, and given back by Detach.
func TestAttachPicksPorts(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default().Network
	f := &fakeHost{st: hostState{IPForward: "0"}}
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	writeFile(t, rc, "nameserver 10.255.255.53\n")
	edge := portEdge{rng: func() PortRange { return PortRange{First: 40000, Last: 40001} }, free: busyOn()}
	n, err := New(cfg, openStore(t, ""), withEdges(f, f), WithResolvConf(rc), withPortEdge(edge))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	f.takeLog()
	var recorded []Port
	record := func(r Resources) error {
		if len(r.Ports) > 0 {
			if log := strings.Join(f.takeLog(), "\n"); strings.Contains(log, "dnat") {
				t.Errorf("a DNAT rule existed before the port was recorded:\n%s", log)
			}
			recorded = r.Ports
		}
		return nil
	}
	att, err := n.Attach(ctx, "vma", []Port{{GuestPort: 80}}, record)
	if err != nil {
		t.Fatal(err)
	}
	a := att.Resources.Ports[0].HostPort
	if a != 40000 && a != 40001 || !slices.Equal(recorded, att.Resources.Ports) {
		t.Fatalf("vma got %+v, recorded %+v", att.Resources.Ports, recorded)
	}
	if log := strings.Join(f.takeLog(), "\n"); !strings.Contains(log, fmt.Sprintf("tcp dport %d dnat ip to %s:80", a, att.Lease.IP)) {
		t.Fatalf("no DNAT rule for the picked port:\n%s", log)
	}
	attB, err := n.Attach(ctx, "vmb", []Port{{GuestPort: 80}}, func(Resources) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if b := attB.Resources.Ports[0].HostPort; b == a || b < 40000 || b > 40001 {
		t.Fatalf("vmb got %d, vma has %d", b, a)
	}
	// The range is full: a third VM is told so, and holds nothing.
	_, err = n.Attach(ctx, "vmc", []Port{{GuestPort: 80}}, func(Resources) error { return nil })
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "no free host port in 40000-40001") {
		t.Fatalf("third vm: %v", err)
	}
	// Detach gives vma's port back; vmc gets it.
	if err := n.Detach(ctx, "vma"); err != nil {
		t.Fatal(err)
	}
	attC, err := n.Attach(ctx, "vmc", []Port{{GuestPort: 80}}, func(Resources) error { return nil })
	if err != nil || attC.Resources.Ports[0].HostPort != a {
		t.Fatalf("vmc after vma's detach: %+v, %v; want port %d", attC.Resources.Ports, err, a)
	}
}
