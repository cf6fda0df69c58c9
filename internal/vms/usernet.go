package vms

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Networks are the user-defined networks (`banger network create`), as
// the VM service needs them; nil refuses `--network NAME`.
type Networks interface {
	// Resolve returns the name of the network ref names (its name, id or
	// id prefix); ErrNotFound when there is none.
	Resolve(ref string) (string, error)
	// Attachable returns the network's host side, set up, for a VM's
	// network stage to attach to and detach from.
	Attachable(ctx context.Context, name string) (Network, error)
}

// NetworkBridge is `--network bridge`: docker's name for the default
// network, stored as NetworkDefault.
const NetworkBridge = "bridge"

// OnUserNetwork says the spec names a user-defined network.
func (s Spec) OnUserNetwork() bool {
	return s.Network != NetworkDefault && s.Network != NetworkNone && s.Network != NetworkBridge && !s.inNetns()
}

// aliasRE is one DNS name (labels of letters, digits and '-', dots
// between): what a guest's resolver can ask for.
var aliasRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// checkUserNetwork checks `--network NAME` and `--network-alias`, and
// returns the network's name as the spec keeps it (a network given by
// id is kept by name: what rm's refusal and DNS look for).
func (s *Service) checkUserNetwork(sp Spec) (string, error) {
	if !sp.OnUserNetwork() {
		if len(sp.NetworkAliases) > 0 {
			return sp.Network, fmt.Errorf("%w: --network-alias needs a user-defined network (banger network create NAME, then --network NAME); the default network has no names", errdefs.ErrInvalid)
		}
		return sp.Network, nil
	}
	if sp.Network == "host" {
		return sp.Network, fmt.Errorf("%w: network \"host\": a VM has its own kernel and cannot share the host's network stack; want none, bridge, a network's name or netns:PATH[:IFACE] (publish ports with -p)", errdefs.ErrInvalid)
	}
	for _, a := range sp.NetworkAliases {
		if len(a) > 253 || !aliasRE.MatchString(a) {
			return sp.Network, fmt.Errorf("%w: --network-alias %q: want a DNS name such as db or db.internal", errdefs.ErrInvalid, a)
		}
	}
	if s.Networks == nil {
		return sp.Network, fmt.Errorf("network %q: %w: this daemon has no user-defined networks; want none, bridge, a network's name or netns:PATH[:IFACE]", sp.Network, errdefs.ErrInvalid)
	}
	return s.Networks.Resolve(sp.Network)
}

// networkOf is the host network the VM's spec puts it on, set up: the
// default network, or a user-defined one (which needs the default one's
// host settings, ip_forward, too).
func (s *Service) networkOf(ctx context.Context, sp Spec) (Network, error) {
	def, err := s.ensureNetwork(ctx)
	if err != nil || !sp.OnUserNetwork() {
		return def, err
	}
	if s.Networks == nil {
		return nil, fmt.Errorf("network %q: %w: this daemon has no user-defined networks", sp.Network, errdefs.ErrUnavailable)
	}
	return s.Networks.Attachable(ctx, sp.Network)
}

// NetworkUsers returns the names of the VMs in tx whose spec puts them on
// the network. The network catalog asks it before it removes one.
func NetworkUsers(tx *store.Tx, network string) []string {
	vms, _ := store.List[VM](tx, store.VMs)
	var out []string
	for _, vm := range vms {
		if vm.Spec.Network == network {
			out = append(out, vm.Name)
		}
	}
	return out
}

// NetworkAddrs answers DNS on a user network, as docker's embedded DNS
// does: the addresses of the live VMs on network whose name or alias is
// name (case-insensitive). Names on other networks are not answered.
func (s *Service) NetworkAddrs(network, name string) []netip.Addr {
	vms, err := store.ListAll[VM](s.Store, store.VMs)
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, vm := range vms {
		if vm.Spec.Network != network || !vm.State.Live() {
			continue
		}
		if !strings.EqualFold(vm.Name, name) && !slices.ContainsFunc(vm.Spec.NetworkAliases, func(a string) bool { return strings.EqualFold(a, name) }) {
			continue
		}
		if ip, err := netip.ParseAddr(vm.Runtime.IP); err == nil {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Connect puts a stopped VM on a user-defined network (network) with
// aliases, or back on the default one (network empty or bridge), or on
// none. A banger VM has one NIC, so the VM leaves the network it was on;
// its address is leased anew from the new network at its next start.
// A running VM is refused: its NIC cannot move under it.
func (s *Service) Connect(ctx context.Context, ref, network string, aliases []string) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	unlock := s.locks.Lock(vm.ID)
	defer unlock()
	if vm, err = s.Get(vm.ID); err != nil {
		return vm, err
	}
	if vm.State.Live() || vm.State == Restarting || s.live.any(vm.ID) != nil {
		return vm, fmt.Errorf("vm %s: %w: it is %s; a VM's network changes only while it is stopped (banger stop %s, then connect and start it)", vm.Name, errdefs.ErrConflict, vm.State, vm.Name)
	}
	if network == NetworkBridge {
		network = NetworkDefault
	}
	sp := vm.Spec
	sp.Network, sp.NetworkAliases = network, aliases
	if sp.Network, err = s.checkUserNetwork(sp); err != nil {
		return vm, err
	}
	if err := checkDNS(sp.DNS, sp.Network); err != nil {
		return vm, err
	}
	if sp.Network == vm.Spec.Network && slices.Equal(sp.NetworkAliases, vm.Spec.NetworkAliases) {
		return vm, nil
	}
	if sp.Network != vm.Spec.Network {
		// The lease belongs to the old network's subnet: give it back
		// (recorded in the VM's record first, as the network stage does).
		rec, err := s.openRecord(vm.ID)
		if err != nil {
			return vm, err
		}
		if rec.Network != nil || rec.IsBroken("network") {
			if s.Network == nil {
				return vm, fmt.Errorf("lease of vm %s: %w (%w)", vm.ID, errNoNetwork, s.NetworkErr)
			}
			if err := s.Network.Release(ctx, vm.ID); err != nil {
				return vm, err
			}
			rec.Repaired("network")
			rec.Network = nil
			if err := rec.Save(); err != nil {
				return vm, err
			}
		}
	}
	return s.update(vm.ID, func(v *VM) {
		v.Spec.Network, v.Spec.NetworkAliases = sp.Network, sp.NetworkAliases
		v.Runtime.IP, v.Runtime.MAC, v.Runtime.Tap = "", "", ""
	})
}

// Disconnect takes a stopped VM off network: it then has no network
// (--network none), as a docker container disconnected from its only
// network. A VM on another network is refused.
func (s *Service) Disconnect(ctx context.Context, ref, network string) (VM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, err
	}
	if vm.Spec.Network != network {
		on := cmp.Or(vm.Spec.Network, NetworkBridge)
		return vm, fmt.Errorf("vm %s: %w: it is on network %s, not %s", vm.Name, errdefs.ErrConflict, on, cmp.Or(network, NetworkBridge))
	}
	return s.Connect(ctx, vm.ID, NetworkNone, nil)
}
