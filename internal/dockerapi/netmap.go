package dockerapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The networks Docker predefines, as they are listed: bridge is banger's
// default network, none a VM without one; host is listed as Docker lists
// it, but a VM cannot use it (create refuses --network host).
const (
	netBridge = network.NetworkBridge
	netHost   = network.NetworkHost
	netNone   = network.NetworkNone
)

var predefined = []string{netBridge, netHost, netNone}

// driverOf is the driver Docker shows for a predefined network; every
// user network is a bridge.
func driverOf(name string) string {
	switch name {
	case netHost:
		return "host"
	case netNone:
		return "null"
	}
	return "bridge"
}

// predefinedID is the 64-hex-digit id of a predefined network: derived
// from its name (as container ids are from VM ids), so it is the same
// on every request and any prefix of it finds the network.
func predefinedID(name string) string {
	sum := sha256.Sum256([]byte("banger-network:" + name))
	return hex.EncodeToString(sum[:])
}

// endpointID is the id of a container's endpoint on a network.
func endpointID(vmID, netName string) string {
	sum := sha256.Sum256([]byte("banger-endpoint:" + vmID + ":" + netName))
	return hex.EncodeToString(sum[:])
}

// netView is one network as the Engine API shows it: a user network's
// record, or a predefined one (Default holds the default network's
// subnet and gateway).
type netView struct {
	networks.Network
	Driver string
	// Builtin: bridge, host or none.
	Builtin bool
}

// specName is the value a VM's Spec.Network has on this network.
func (n netView) specName() string {
	switch {
	case n.Builtin && n.Name == netBridge:
		return vms.NetworkDefault
	case n.Builtin && n.Name == netNone:
		return vms.NetworkNone
	}
	return n.Name
}

// toNetwork is n in Docker's shape.
func toNetwork(n netView) network.Network {
	out := network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: n.Driver == "bridge",
		IPAM:    network.IPAM{Driver: "default", Options: map[string]string{}, Config: []network.IPAMConfig{}},
		Options: map[string]string{}, Labels: maps.Clone(n.Labels),
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.Subnet.IsValid() {
		out.IPAM.Config = append(out.IPAM.Config, network.IPAMConfig{Subnet: n.Subnet, Gateway: n.Gateway})
	}
	if n.Bridge != "" {
		out.Options["com.docker.network.bridge.name"] = n.Bridge
	}
	return out
}

// inspectNetwork is n with the live containers on it, as `docker
// network inspect` shows them (a stopped container holds no endpoint).
func inspectNetwork(n netView, on []vms.VM) network.Inspect {
	out := network.Inspect{Network: toNetwork(n), Containers: map[string]network.EndpointResource{}}
	for _, vm := range on {
		if !vm.State.Live() {
			continue
		}
		ep := network.EndpointResource{Name: vm.Name, EndpointID: endpointID(vm.ID, n.Name)}
		if a, err := netip.ParseAddr(vm.Runtime.IP); err == nil {
			bits := 24
			if n.Subnet.IsValid() {
				bits = n.Subnet.Bits()
			}
			ep.IPv4Address = netip.PrefixFrom(a, bits)
		}
		if mac, err := net.ParseMAC(vm.Runtime.MAC); err == nil {
			ep.MacAddress = network.HardwareAddr(mac)
		}
		out.Containers[containerID(vm.ID)] = ep
	}
	return out
}

// The network filters served.
var networkFilterKeys = []string{"name", "id", "label", "driver", "type", "scope", "dangling"}

// networkMatch says whether n passes f: name and id match as Docker's
// do (the value as a regular expression, so a plain one is a substring), label KEY or KEY=VALUE (all must hold), driver its driver,
// type builtin or custom, scope local, dangling whether no container
// uses it (user networks only). used says whether a VM uses n.
func networkMatch(f filters, n netView, used bool) (bool, error) {
	for _, v := range f["type"] {
		if v != "builtin" && v != "custom" {
			return false, badParam("invalid filter: 'type'='%s'", v)
		}
	}
	for _, v := range f["dangling"] {
		want, err := strconv.ParseBool(v)
		if err != nil {
			return false, badParam("invalid filter 'dangling=%s'", v)
		}
		if n.Builtin || want == used {
			return false, nil
		}
	}
	typ := "custom"
	if n.Builtin {
		typ = "builtin"
	}
	return f.anyOf("name", func(v string) bool { return filterMatch(v, n.Name) }) &&
		f.anyOf("id", func(v string) bool { return filterMatch(v, n.ID) }) &&
		f.anyOf("driver", func(v string) bool { return v == n.Driver }) &&
		f.anyOf("type", func(v string) bool { return v == typ }) &&
		f.anyOf("scope", func(v string) bool { return v == "local" }) &&
		labels.Match(n.Labels, f["label"]), nil
}

// filterMatch is Docker's filters.Args.Match of one value: the same
// text, or a regular expression found in source.
func filterMatch(v, source string) bool {
	if v == source {
		return true
	}
	ok, err := regexp.MatchString(v, source)
	return err == nil && ok
}

// createRequest maps `docker network create` onto banger's: the name,
// labels and an IPv4 subnet. What a banger network cannot be is refused
// naming the option. Attachable changes nothing on a local bridge (every
// banger network takes containers) and is accepted: compose sets it on
// every network it makes, as Docker's daemon accepts for bridges.
func createRequest(req network.CreateRequest) (networks.CreateRequest, error) {
	out := networks.CreateRequest{Name: req.Name, Labels: maps.Clone(req.Labels)}
	if req.Name == "" {
		return out, badParam("network create: a name is required")
	}
	switch {
	case req.Driver != "" && req.Driver != "bridge":
		return out, refuse("--driver "+req.Driver+" (Driver)", "a banger network is its own Linux bridge; there are no other drivers")
	case req.Scope != "" && req.Scope != "local":
		return out, refuse("--scope "+req.Scope+" (Scope)", "banger is one host, not a swarm")
	case req.EnableIPv6 != nil && *req.EnableIPv6:
		return out, refuse("--ipv6 (EnableIPv6)", "a banger network is IPv4 only")
	case req.EnableIPv4 != nil && !*req.EnableIPv4:
		return out, refuse("--ipv4=false (EnableIPv4)", "a banger network is IPv4")
	case req.Internal:
		return out, refuse("--internal (Internal)", "a banger network reaches outside through NAT; networks without outside access are not supported yet")
	case req.Ingress:
		return out, refuse("--ingress (Ingress)", "banger is not a swarm")
	case req.ConfigOnly || req.ConfigFrom != nil:
		return out, refuse("--config-only, --config-from (ConfigOnly, ConfigFrom)", "a banger network is configured when it is created")
	}
	for _, k := range slices.Sorted(maps.Keys(req.Options)) {
		return out, refuse("--opt "+k+" (Options)", "a banger network's bridge, MTU and NAT are banger's own")
	}
	if req.IPAM == nil {
		return out, nil
	}
	if d := req.IPAM.Driver; d != "" && d != "default" {
		return out, refuse("--ipam-driver "+d+" (IPAM.Driver)", "banger assigns the addresses itself")
	}
	for _, k := range slices.Sorted(maps.Keys(req.IPAM.Options)) {
		return out, refuse("--ipam-opt "+k+" (IPAM.Options)", "banger assigns the addresses itself")
	}
	if len(req.IPAM.Config) > 1 {
		return out, refuse("several --subnet (IPAM.Config)", "a banger network has one IPv4 subnet")
	}
	for _, c := range req.IPAM.Config {
		switch {
		case c.IPRange.IsValid():
			return out, refuse("--ip-range (IPAM.Config.IPRange)", "addresses are leased from the whole subnet")
		case len(c.AuxAddress) > 0:
			return out, refuse("--aux-address (IPAM.Config.AuxiliaryAddresses)", "addresses are leased from the whole subnet")
		case c.Gateway.IsValid() && (!c.Subnet.IsValid() || c.Gateway != c.Subnet.Masked().Addr().Next()):
			return out, refuse("--gateway "+c.Gateway.String()+" (IPAM.Config.Gateway)", "the gateway is the subnet's first address")
		case c.Subnet.IsValid():
			out.Subnet = c.Subnet.String()
		}
	}
	return out, nil
}

// inUseError is Docker's refusal of removing a network containers use
// (403), naming them; a stopped container holds its network in banger
// too.
func inUseError(n netView, users []string) error {
	var eps []string
	for _, u := range users {
		eps = append(eps, fmt.Sprintf("name:%q", u))
	}
	return kindError(errdefs.ErrPermission, "error while removing network: network %s id %s has active endpoints (%s); remove those containers or disconnect them (stopped) first",
		n.Name, n.ID, strings.Join(eps, " "))
}

// notFoundNetwork is Docker's answer for a network it does not know.
func notFoundNetwork(ref string) error {
	return kindError(errdefs.ErrNotFound, "network %s not found", ref)
}

// createdAt is the time a predefined network shows: the daemon's start.
var createdAt = time.Now().UTC()
