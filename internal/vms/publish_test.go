package vms

import (
	"context"
	"fmt"
	"testing"

	"github.com/bangerdev/banger/internal/hostnet"
)

func TestPublishAll(t *testing.T) {
	tcp := func(host, guest int) hostnet.Port {
		return hostnet.Port{HostPort: host, GuestPort: guest, Protocol: "tcp"}
	}
	udp := func(host, guest int) hostnet.Port {
		return hostnet.Port{HostPort: host, GuestPort: guest, Protocol: "udp"}
	}
	tests := []struct {
		name    string
		ports   []hostnet.Port
		exposed []string
		want    []hostnet.Port
	}{
		{name: "nothing exposed", ports: []hostnet.Port{tcp(8080, 80)}, want: []hostnet.Port{tcp(8080, 80)}},
		{name: "each exposed port", exposed: []string{"80/tcp", "53/udp", "8080"}, want: []hostnet.Port{tcp(0, 80), udp(0, 53), tcp(0, 8080)}},
		{name: "already published keeps its host port", ports: []hostnet.Port{tcp(9000, 80)}, exposed: []string{"80/tcp", "443/tcp"},
			want: []hostnet.Port{tcp(9000, 80), tcp(0, 443)}},
		{name: "another protocol is another port", ports: []hostnet.Port{tcp(9000, 53)}, exposed: []string{"53/udp"},
			want: []hostnet.Port{tcp(9000, 53), udp(0, 53)}},
		{name: "not a port is skipped", exposed: []string{"http", "80/sctp", "0/tcp", "70000", "443/TCP"}, want: []hostnet.Port{tcp(0, 443)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := publishAll(tt.ports, tt.exposed); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("publishAll = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPublished(t *testing.T) {
	spec := Spec{Ports: []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}, {GuestPort: 443, Protocol: "tcp"}}}
	stopped := VM{Spec: spec}
	if got := fmt.Sprint(Published(stopped)); got != fmt.Sprint(spec.Ports[:1]) {
		t.Fatalf("stopped: %s; want only the named host port", got)
	}
	running := VM{Spec: spec, Runtime: Summary{Ports: []hostnet.Port{spec.Ports[0], {HostPort: 40001, GuestPort: 443, Protocol: "tcp"}}}}
	if got := fmt.Sprint(Published(running)); got != fmt.Sprint(running.Runtime.Ports) {
		t.Fatalf("running: %s; want the recorded ports", got)
	}
}

// TestCreatePublishAll: -P adds the image's exposed ports that -p does
// not publish, each with a host port to pick; without -P nothing is added.
func TestCreatePublishAll(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vm, err := f.s.Create(ctx, "", Spec{Image: "busybox", PublishAll: true, Ports: []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}, {GuestPort: 53, Protocol: "udp"}}
	if fmt.Sprint(vm.Spec.Ports) != fmt.Sprint(want) {
		t.Fatalf("-P ports = %+v, want %+v", vm.Spec.Ports, want)
	}
	plain, err := f.s.Create(ctx, "", Spec{Image: "busybox"})
	if err != nil || len(plain.Spec.Ports) != 0 {
		t.Fatalf("without -P: %+v, %v", plain.Spec.Ports, err)
	}
	if _, err := f.s.Create(ctx, "", Spec{Image: "busybox", PublishAll: true, Network: "netns:/var/run/netns/x"}); err == nil {
		t.Fatal("-P with --network netns: accepted")
	}
}
