package dockerapi

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
)

// The network a container on banger's bridge is reported on: Docker's
// default bridge's name.
const bridgeNetwork = "bridge"

// containerState is a VM state in Docker's words; a VM that failed to
// start is an exited container with State.Error.
func containerState(s vms.State) container.ContainerState {
	switch s {
	case vms.Created:
		return container.StateCreated
	case vms.Running:
		return container.StateRunning
	case vms.Paused:
		return container.StatePaused
	case vms.Restarting:
		return container.StateRestarting
	}
	return container.StateExited
}

// exitCode is the VM's last exit status, 0 when it has none.
func exitCode(vm vms.VM) int {
	if vm.ExitCode != nil {
		return *vm.ExitCode
	}
	return 0
}

// status is `docker ps`'s STATUS column.
func status(vm vms.VM, now time.Time) string {
	ago := func(t time.Time) string { return units.HumanDuration(now.Sub(t)) + " ago" }
	switch vm.State {
	case vms.Created:
		return "Created"
	case vms.Running:
		return "Up " + units.HumanDuration(now.Sub(vm.Started))
	case vms.Paused:
		return "Up " + units.HumanDuration(now.Sub(vm.Started)) + " (Paused)"
	case vms.Restarting:
		return fmt.Sprintf("Restarting (%d) %s", exitCode(vm), ago(vm.Stopped))
	}
	if vm.Stopped.IsZero() {
		return fmt.Sprintf("Exited (%d)", exitCode(vm))
	}
	return fmt.Sprintf("Exited (%d) %s", exitCode(vm), ago(vm.Stopped))
}

// ports are published ports as Docker's port map: a host port yet to be
// picked (HostConfig.PortBindings of -p 80) is "", as docker has it.
func ports(ps []hostnet.Port) network.PortMap {
	out := network.PortMap{}
	for _, p := range ps {
		port, ok := network.PortFrom(uint16(p.GuestPort), network.IPProtocol(p.Protocol))
		if !ok {
			continue
		}
		b := network.PortBinding{HostIP: hostIP(p)}
		if p.HostPort != 0 {
			b.HostPort = strconv.Itoa(p.HostPort)
		}
		out[port] = append(out[port], b)
	}
	return out
}

// hostIP is the address a port is published on, as Docker shows it:
// 0.0.0.0 for every address.
func hostIP(p hostnet.Port) netip.Addr {
	if a, err := netip.ParseAddr(p.HostIP); err == nil {
		return a
	}
	return netip.IPv4Unspecified()
}

// endpoints is the VM's network as Docker's: the bridge or its user
// network by name, with its address, MAC and aliases (the names its
// network's DNS answers), none without a network.
func endpoints(vm vms.VM) map[string]*network.EndpointSettings {
	if vm.Spec.Network == vms.NetworkNone {
		return map[string]*network.EndpointSettings{"none": {}}
	}
	ep := &network.EndpointSettings{}
	if vm.Spec.OnUserNetwork() {
		ep.Aliases = vm.Spec.NetworkAliases
		ep.DNSNames = append([]string{vm.Name}, vm.Spec.NetworkAliases...)
	}
	if a, err := netip.ParseAddr(vm.Runtime.IP); err == nil && vm.State.Live() {
		ep.IPAddress = a
	}
	if mac, err := net.ParseMAC(vm.Runtime.MAC); err == nil && vm.State.Live() {
		ep.MacAddress = network.HardwareAddr(mac)
	}
	return map[string]*network.EndpointSettings{networkMode(vm.Spec): ep}
}

// mountPoints are the VM's volumes as Docker's.
func mountPoints(spec vms.Spec) []container.MountPoint {
	out := []container.MountPoint{}
	for _, m := range spec.Mounts {
		mp := container.MountPoint{Source: m.Source, Destination: m.Target, RW: !m.ReadOnly}
		if m.ReadOnly {
			mp.Mode = "ro"
		}
		switch m.Type {
		case volumes.TypeVolume:
			mp.Type, mp.Name, mp.Driver = mount.TypeVolume, m.Source, "local"
		case volumes.TypeBind:
			mp.Type = mount.TypeBind
		default:
			mp.Type = mount.Type(m.Type)
		}
		out = append(out, mp)
	}
	return out
}

// summary is the VM as a `docker ps` row.
func summary(vm vms.VM, command string, now time.Time) container.Summary {
	s := container.Summary{
		ID: containerID(vm.ID), Names: []string{"/" + vm.Name}, Image: vm.Spec.Image, ImageID: vm.ImageID,
		Command: command, Created: vm.Created.Unix(), Labels: vm.Spec.Labels,
		State: containerState(vm.State), Status: status(vm, now), Mounts: mountPoints(vm.Spec),
		NetworkSettings: &container.NetworkSettingsSummary{Networks: endpoints(vm)},
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = networkMode(vm.Spec)
	for _, p := range vms.Published(vm) {
		s.Ports = append(s.Ports, container.PortSummary{IP: hostIP(p), PrivatePort: uint16(p.GuestPort), PublicPort: uint16(p.HostPort), Type: p.Protocol})
	}
	if s.Ports == nil {
		s.Ports = []container.PortSummary{}
	}
	return s
}

// networkMode is the network the VM's spec names, in Docker's words:
// none, bridge (banger's default network) or a user network's name.
func networkMode(spec vms.Spec) string {
	switch {
	case spec.Network == vms.NetworkNone:
		return "none"
	case spec.OnUserNetwork():
		return spec.Network
	}
	return bridgeNetwork
}

// dockerTime is Docker's time format; the zero time is Docker's zero.
func dockerTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// commandLine is the Command column: argv joined, quoted where needed.
func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}
