package dockerapi

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/vms"
)

// netEnv is a Server over fake VMs and networks.
func netEnv(t *testing.T, list ...vms.VM) (*Server, *fakeVMs, *fakeNetworks) {
	t.Helper()
	f := newFakeVMs(list...)
	nets := &fakeNetworks{vms: f}
	s, _ := newTestServer(f, t.TempDir())
	o := s.opts
	o.Networks = nets
	return New(o), f, nets
}

// cliCreate is the body Debian's docker CLI (API 1.41) sends for
// `docker network create NAME`, with extra fields spliced in.
func cliCreate(name, extra string) string {
	return `{"Name":"` + name + `","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},"Config":[]},` +
		`"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{}` + extra + `}`
}

// TestNetworkCreateListInspect: a CLI's create is banger's (name,
// labels, subnet), its id the record's; a name in use or predefined is
// Docker's 409; ls lists bridge, host and none beside it and filters;
// inspect finds it by name or id prefix and shows the live containers
// with their addresses, the default bridge its subnet.
func TestNetworkCreateListInspect(t *testing.T) {
	web := vms.VM{ID: "aaaaaaaaaaaa", Name: "web", State: vms.Running, Runtime: vms.Summary{IP: "10.99.0.5", MAC: "02:00:00:00:00:05"},
		Spec: vms.Spec{Network: "appnet", NetworkAliases: []string{"www"}}}
	stopped := vms.VM{ID: "bbbbbbbbbbbb", Name: "old", State: vms.Exited, Spec: vms.Spec{Network: "appnet"}}
	s, _, nets := netEnv(t, web, stopped)
	body := strings.Replace(cliCreate("appnet", ""), `"Config":[]`, `"Config":[{"Subnet":"10.99.0.0/24"}]`, 1)
	body = strings.Replace(body, `"Labels":{}`, `"Labels":{"team":"db"}`, 1)
	rec := do(s, "POST", "/v1.41/networks/create", body)
	var created network.CreateResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &created); rec.Code != 201 || err != nil || len(created.ID) != 64 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if nets.calls[0] != "create appnet 10.99.0.0/24" || nets.nets[0].Labels["team"] != "db" {
		t.Errorf("create reached the catalog as %v %v", nets.calls, nets.nets[0].Labels)
	}
	for _, name := range []string{"appnet", "bridge", "none", "default"} {
		if rec := do(s, "POST", "/networks/create", cliCreate(name, "")); rec.Code != 409 || message(t, rec) != "network with name "+name+" already exists" {
			t.Errorf("create of %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	list := func(filters string) string {
		var got []network.Summary
		rec := do(s, "GET", "/networks?filters="+url.QueryEscape(filters), "")
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != 200 {
			t.Fatalf("list %s: %d %s", filters, rec.Code, rec.Body)
		}
		var names []string
		for _, n := range got {
			names = append(names, n.Name+"/"+n.Driver)
		}
		return strings.Join(names, " ")
	}
	for filters, want := range map[string]string{
		``:                              "bridge/bridge host/host none/null appnet/bridge",
		`{"name":{"app":true}}`:         "appnet/bridge",
		`{"name":["^(bridge|none)$"]}`:  "bridge/bridge none/null",
		`{"id":["` + created.ID + `"]}`: "appnet/bridge",
		`{"label":["team=db"]}`:         "appnet/bridge",
		`{"label":["team=web"]}`:        "",
		`{"driver":["null"]}`:           "none/null",
		`{"type":["custom"]}`:           "appnet/bridge",
		`{"type":["builtin"]}`:          "bridge/bridge host/host none/null",
		`{"dangling":["true"]}`:         "",
		`{"dangling":["false"]}`:        "appnet/bridge",
	} {
		if got := list(filters); got != want {
			t.Errorf("list %s: %q, want %q", filters, got, want)
		}
	}
	for _, bad := range []string{`{"colour":["red"]}`, `{"type":["odd"]}`, `{"dangling":["maybe"]}`} {
		if rec := do(s, "GET", "/networks?filters="+url.QueryEscape(bad), ""); rec.Code != 400 {
			t.Errorf("list with filters %s: %d, want 400", bad, rec.Code)
		}
	}
	for _, ref := range []string{"appnet", created.ID, created.ID[:6]} {
		var in network.Inspect
		rec := do(s, "GET", "/v1.41/networks/"+ref, "")
		if err := json.Unmarshal(rec.Body.Bytes(), &in); err != nil || rec.Code != 200 {
			t.Fatalf("inspect %s: %d %s", ref, rec.Code, rec.Body)
		}
		ep, ok := in.Containers[containerID(web.ID)]
		if in.ID != created.ID || in.Driver != "bridge" || in.Scope != "local" || len(in.IPAM.Config) != 1 ||
			in.IPAM.Config[0].Subnet.String() != "10.99.0.0/24" || in.IPAM.Config[0].Gateway.String() != "10.99.0.1" ||
			len(in.Containers) != 1 || !ok || ep.Name != "web" || ep.IPv4Address.String() != "10.99.0.5/24" || ep.MacAddress.String() != "02:00:00:00:00:05" {
			t.Errorf("inspect %s: %s", ref, rec.Body)
		}
	}
	var bridge network.Inspect
	rec = do(s, "GET", "/networks/bridge", "")
	if err := json.Unmarshal(rec.Body.Bytes(), &bridge); err != nil || len(bridge.ID) != 64 || bridge.IPAM.Config[0].Subnet.String() != "10.213.0.0/24" ||
		bridge.Options["com.docker.network.bridge.name"] != "banger0" {
		t.Errorf("inspect bridge: %s", rec.Body)
	}
	if rec := do(s, "GET", "/networks/"+bridge.ID[:5], ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"Name":"bridge"`) {
		t.Errorf("bridge by id prefix: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "GET", "/networks/nope", ""); rec.Code != 404 || message(t, rec) != "network nope not found" {
		t.Errorf("inspect of a missing network: %d %s", rec.Code, rec.Body)
	}
}

// TestNetworkCreateRefusals: every create option a banger network cannot
// be is a 400 naming it, and nothing is created.
func TestNetworkCreateRefusals(t *testing.T) {
	for extra, option := range map[string]string{
		`,"Driver":"overlay"`: "--driver overlay",
		`,"EnableIPv6":true`:  "--ipv6",
		`,"Internal":true`:    "--internal",
		`,"Ingress":true`:     "--ingress",
		`,"Scope":"swarm"`:    "--scope swarm",
		`,"ConfigOnly":true`:  "--config-only",
		`,"Options":{"com.docker.network.driver.mtu":"1400"}`:                                 "--opt com.docker.network.driver.mtu",
		`,"IPAM":{"Driver":"dhcp"}`:                                                           "--ipam-driver dhcp",
		`,"IPAM":{"Config":[{"Subnet":"10.9.0.0/24","IPRange":"10.9.0.0/25"}]}`:               "--ip-range",
		`,"IPAM":{"Config":[{"Subnet":"10.9.0.0/24","AuxiliaryAddresses":{"a":"10.9.0.9"}}]}`: "--aux-address",
		`,"IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.254"}]}`:                "--gateway 10.9.0.254",
		`,"IPAM":{"Config":[{"Subnet":"10.9.0.0/24"},{"Subnet":"10.10.0.0/24"}]}`:             "several --subnet",
	} {
		s, _, nets := netEnv(t)
		// The extra fields come last and win over the CLI's defaults.
		rec := do(s, "POST", "/networks/create", cliCreate("n1", extra))
		if rec.Code != 400 || !strings.HasPrefix(message(t, rec), option) || !strings.Contains(message(t, rec), "not supported by banger") || len(nets.calls) != 0 {
			t.Errorf("create with %s: %d %s (calls %v); want a 400 naming %s", extra, rec.Code, rec.Body, nets.calls, option)
		}
	}
	s, _, nets := netEnv(t)
	if rec := do(s, "POST", "/networks/create", cliCreate("n1", `,"IPAM":{"Config":[{"Subnet":"10.9.0.0/24","Gateway":"10.9.0.1"}]}`)); rec.Code != 201 || nets.calls[0] != "create n1 10.9.0.0/24" {
		t.Errorf("create with the subnet's own gateway: %d %s %v", rec.Code, rec.Body, nets.calls)
	}
	// What docker-compose sends for a project's default network.
	s, _, nets = netEnv(t)
	if rec := do(s, "POST", "/networks/create", cliCreate("p_default", `,"Attachable":true,"CheckDuplicate":true,"Labels":{"com.docker.compose.network":"default"}`)); rec.Code != 201 || len(nets.calls) != 1 || nets.calls[0] != "create p_default " {
		t.Errorf("create as compose does (attachable): %d %s %v", rec.Code, rec.Body, nets.calls)
	}
}

// TestNetworkRemoveAndPrune: a predefined network and one a container
// uses are Docker's 403 (the latter naming the containers); an unused
// one is removed; prune removes the unused networks its labels take.
func TestNetworkRemoveAndPrune(t *testing.T) {
	web := vms.VM{ID: "aaaaaaaaaaaa", Name: "web", State: vms.Exited, Spec: vms.Spec{Network: "used"}}
	s, _, nets := netEnv(t, web)
	for _, n := range []string{"used", "free", "keep"} {
		labels := `"Labels":{}`
		if n == "keep" {
			labels = `"Labels":{"keep":"yes"}`
		}
		if rec := do(s, "POST", "/networks/create", strings.Replace(cliCreate(n, ""), `"Labels":{}`, labels, 1)); rec.Code != 201 {
			t.Fatalf("create %s: %d %s", n, rec.Code, rec.Body)
		}
	}
	if rec := do(s, "DELETE", "/networks/bridge", ""); rec.Code != 403 || message(t, rec) != "bridge is a pre-defined network and cannot be removed" {
		t.Errorf("rm bridge: %d %s", rec.Code, rec.Body)
	}
	rec := do(s, "DELETE", "/networks/used", "")
	if msg := message(t, rec); rec.Code != 403 || !strings.HasPrefix(msg, "error while removing network: network used id "+nets.nets[0].ID+" has active endpoints") || !strings.Contains(msg, `name:"web"`) {
		t.Errorf("rm of a network in use: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "DELETE", "/networks/nope", ""); rec.Code != 404 {
		t.Errorf("rm of a missing network: %d %s", rec.Code, rec.Body)
	}
	rec = do(s, "POST", "/networks/prune?filters="+url.QueryEscape(`{"label!":["keep"]}`), "")
	var rep network.PruneReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || !slices.Equal(rep.NetworksDeleted, []string{"free"}) {
		t.Errorf("prune label!=keep: %d %s", rec.Code, rec.Body)
	}
	if rec := do(s, "DELETE", "/networks/keep", ""); rec.Code != 204 {
		t.Errorf("rm of an unused network: %d %s", rec.Code, rec.Body)
	}
	if got := strings.Join(nets.calls[3:], ","); got != "rm free,rm keep" {
		t.Errorf("the catalog removed %s; want free, then keep", got)
	}
}

// TestNetworkConnect: connect moves a stopped container onto a network
// with its aliases, disconnect leaves it on none; a running one, one on
// another user network, and host are refused saying why.
func TestNetworkConnect(t *testing.T) {
	idle := vms.VM{ID: "aaaaaaaaaaaa", Name: "idle", State: vms.Created}
	busy := vms.VM{ID: "bbbbbbbbbbbb", Name: "busy", State: vms.Running, Spec: vms.Spec{Network: "appnet"}}
	s, f, nets := netEnv(t, idle, busy)
	for _, n := range []string{"appnet", "other"} {
		do(s, "POST", "/networks/create", cliCreate(n, ""))
	}
	if rec := do(s, "POST", "/v1.41/networks/appnet/connect", `{"Container":"idle","EndpointConfig":{"Aliases":["spare"]}}`); rec.Code != 200 {
		t.Fatalf("connect: %d %s", rec.Code, rec.Body)
	}
	if vm, _ := f.Get("idle"); vm.Spec.Network != "appnet" || !slices.Equal(vm.Spec.NetworkAliases, []string{"spare"}) {
		t.Errorf("connected spec: %+v", vm.Spec)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/networks/other/connect", `{"Container":"idle"}`, "container idle is on network appnet: a banger container is a VM with one network interface; disconnect it first"},
		{"/networks/other/disconnect", `{"Container":"idle"}`, "container idle is not connected to network other"},
		{"/networks/appnet/disconnect", `{"Container":"busy"}`, "container busy is running: a banger container is a VM with one network interface"},
		{"/networks/bridge/connect", `{"Container":"busy"}`, "container busy is on network appnet"},
		{"/networks/host/connect", `{"Container":"idle"}`, "network host is not supported by banger"},
		{"/networks/appnet/connect", `{"Container":"idle","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.220.0.9"}}}`, "--ip, --ip6"},
		{"/networks/appnet/connect", `{"Container":"ghost"}`, "No such container: ghost"},
	} {
		rec := do(s, "POST", tc.path, tc.body)
		if rec.Code < 400 || !strings.HasPrefix(message(t, rec), tc.want) {
			t.Errorf("%s %s: %d %s; want %q", tc.path, tc.body, rec.Code, rec.Body, tc.want)
		}
	}
	if rec := do(s, "POST", "/networks/appnet/disconnect", `{"Container":"idle"}`); rec.Code != 200 {
		t.Fatalf("disconnect: %d %s", rec.Code, rec.Body)
	}
	if vm, _ := f.Get("idle"); vm.Spec.Network != vms.NetworkNone || len(vm.Spec.NetworkAliases) != 0 {
		t.Errorf("disconnected spec: %+v", vm.Spec)
	}
	if rec := do(s, "POST", "/networks/bridge/connect", `{"Container":"idle"}`); rec.Code != 200 {
		t.Fatalf("connect to bridge: %d %s", rec.Code, rec.Body)
	}
	if vm, _ := f.Get("idle"); vm.Spec.Network != vms.NetworkDefault {
		t.Errorf("on bridge, the spec's network is %q; want the default", vm.Spec.Network)
	}
	if n := len(nets.calls); nets.calls[n-1] != `connect idle "" []` {
		t.Errorf("last call %q", nets.calls[n-1])
	}
}

// TestContainerOnUserNetwork: inspect and ps name a container's user
// network with its address, aliases and the network's id and gateway.
func TestContainerOnUserNetwork(t *testing.T) {
	web := vms.VM{ID: "aaaaaaaaaaaa", Name: "web", State: vms.Running, ImageID: "img1", Runtime: vms.Summary{IP: "10.220.0.5"},
		Spec: vms.Spec{Image: "alpine", Cmd: []string{"httpd"}, Network: "appnet", NetworkAliases: []string{"www"}}}
	s, _, nets := netEnv(t, web)
	do(s, "POST", "/networks/create", cliCreate("appnet", ""))
	var got struct {
		HostConfig      struct{ NetworkMode string }
		NetworkSettings struct {
			IPAddress string
			Networks  map[string]network.EndpointSettings
		}
	}
	if err := json.Unmarshal(do(s, "GET", "/v1.41/containers/web/json", "").Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	ep, ok := got.NetworkSettings.Networks["appnet"]
	if got.HostConfig.NetworkMode != "appnet" || !ok || len(got.NetworkSettings.Networks) != 1 || ep.IPAddress.String() != "10.220.0.5" ||
		ep.NetworkID != nets.nets[0].ID || ep.Gateway.String() != "10.220.0.1" || ep.IPPrefixLen != 24 ||
		!slices.Equal(ep.Aliases, []string{"www"}) || !slices.Equal(ep.DNSNames, []string{"web", "www"}) || got.NetworkSettings.IPAddress != "" {
		t.Errorf("inspect: %+v", got)
	}
	body := do(s, "GET", "/containers/json", "").Body.String()
	if !strings.Contains(body, `"NetworkMode":"appnet"`) || !strings.Contains(body, `"appnet":{`) {
		t.Errorf("ps: %s", body)
	}
}

// TestNetworkEvents: a network's create and removal are Docker's network
// create and destroy, its id and name the actor's.
func TestNetworkEvents(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for action, want := range map[events.Action]string{events.Create: "create", events.Remove: "destroy"} {
		m, ok := dockerEvent(events.Event{Type: events.TypeNetwork, Action: action, ID: "abc", Name: "appnet", Time: now})
		if !ok || string(m.Type) != "network" || string(m.Action) != want || m.Actor.ID != "abc" || m.Actor.Attributes["name"] != "appnet" || m.Actor.Attributes["type"] != "bridge" {
			t.Errorf("%s: %+v %v", action, m, ok)
		}
		if !eventMatch(filters{"network": {"app"}, "type": {"network"}}, m) || eventMatch(filters{"network": {"other"}}, m) {
			t.Errorf("%s: the network filter does not take it by name alone", action)
		}
	}
}
