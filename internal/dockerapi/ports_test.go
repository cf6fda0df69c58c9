package dockerapi

import (
	"encoding/json"
	"testing"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/vms"
)

// TestPickedPorts: a port published without a host port (-p 80) shows the
// host port banger picked in inspect's NetworkSettings.Ports (what `docker
// port` and testcontainers' MappedPort read) and in list's Ports, while
// HostConfig.PortBindings keeps the request; a stopped VM has none.
func TestPickedPorts(t *testing.T) {
	spec := vms.Spec{Image: "alpine", Ports: []hostnet.Port{{GuestPort: 80, Protocol: "tcp"}}, PublishAll: true}
	running := vms.VM{ID: "aaaaaaaaaaaa", Name: "web", State: vms.Running, Spec: spec,
		Runtime: vms.Summary{Ports: []hostnet.Port{{HostPort: 40123, GuestPort: 80, Protocol: "tcp"}}}}
	stopped := vms.VM{ID: "bbbbbbbbbbbb", Name: "old", State: vms.Exited, Spec: spec}
	s, _ := newTestServer(newFakeVMs(running, stopped), t.TempDir())

	var got struct {
		HostConfig      struct{ PortBindings, PublishAllPorts any }
		NetworkSettings struct{ Ports any }
	}
	for _, c := range []struct{ name, ports string }{
		{"web", `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":"40123"}]}`},
		{"old", `{}`},
	} {
		if err := json.Unmarshal(do(s, "GET", "/v1.41/containers/"+c.name+"/json", "").Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if p, _ := json.Marshal(got.NetworkSettings.Ports); string(p) != c.ports {
			t.Errorf("%s: NetworkSettings.Ports = %s; want %s", c.name, p, c.ports)
		}
		if p, _ := json.Marshal(got.HostConfig.PortBindings); string(p) != `{"80/tcp":[{"HostIp":"0.0.0.0","HostPort":""}]}` || got.HostConfig.PublishAllPorts != true {
			t.Errorf("%s: HostConfig.PortBindings = %s, PublishAllPorts %v; want the request", c.name, p, got.HostConfig.PublishAllPorts)
		}
	}
	var list []struct {
		Names []string
		Ports []struct {
			PrivatePort, PublicPort int
			Type                    string
		}
	}
	if err := json.Unmarshal(do(s, "GET", "/v1.41/containers/json?all=1", "").Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		switch c.Names[0] {
		case "/web":
			if len(c.Ports) != 1 || c.Ports[0].PublicPort != 40123 || c.Ports[0].PrivatePort != 80 || c.Ports[0].Type != "tcp" {
				t.Errorf("list web: Ports = %+v; want 40123->80/tcp", c.Ports)
			}
		case "/old":
			if len(c.Ports) != 0 {
				t.Errorf("list old: Ports = %+v; want none while stopped", c.Ports)
			}
		}
	}
	if len(list) != 2 {
		t.Fatalf("list: %d containers", len(list))
	}
}
