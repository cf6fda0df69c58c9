package dockerapi

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeNetworks is the network catalog and the VM service's connect as
// the daemon answers them: names unique, removal refused while a VM's
// spec names the network, a live VM's network not changed.
type fakeNetworks struct {
	mu    sync.Mutex
	vms   *fakeVMs
	nets  []networks.Network
	calls []string
}

func (f *fakeNetworks) Create(_ context.Context, req networks.CreateRequest) (networks.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("create %s %s", req.Name, req.Subnet))
	for _, n := range f.nets {
		if n.Name == req.Name {
			return networks.Network{}, fmt.Errorf("network %q: %w", req.Name, errdefs.ErrExists)
		}
	}
	sub := netip.MustParsePrefix(fmt.Sprintf("10.220.%d.0/24", len(f.nets)))
	if req.Subnet != "" {
		sub = netip.MustParsePrefix(req.Subnet)
	}
	n := networks.Network{ID: fmt.Sprintf("%064x", 0xe0+len(f.nets)), Name: req.Name, Subnet: sub, Gateway: sub.Addr().Next(),
		Bridge: "bn-" + req.Name, Labels: req.Labels, Created: time.Unix(1700000000, 0)}
	f.nets = append(f.nets, n)
	return n, nil
}

func (f *fakeNetworks) List() ([]networks.Network, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.nets), nil
}

// Inspect finds by name, id or id prefix of 4 digits and more, as the
// catalog does.
func (f *fakeNetworks) Inspect(ref string) (networks.Info, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.nets {
		if n.Name == ref || (len(ref) >= 4 && strings.HasPrefix(n.ID, ref)) {
			var users []string
			all, _ := f.vms.List(true)
			for _, vm := range all {
				if vm.Spec.Network == n.Name {
					users = append(users, vm.Name)
				}
			}
			return networks.Info{Network: n, Users: users}, nil
		}
	}
	return networks.Info{}, fmt.Errorf("network %q: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeNetworks) Remove(_ context.Context, ref string) (networks.Network, error) {
	in, err := f.Inspect(ref)
	if err != nil {
		return in.Network, err
	}
	if len(in.Users) > 0 {
		return in.Network, fmt.Errorf("network %s: %w: vm %s uses it", in.Name, errdefs.ErrConflict, strings.Join(in.Users, ", "))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "rm "+in.Name)
	f.nets = slices.DeleteFunc(f.nets, func(n networks.Network) bool { return n.Name == in.Name })
	return in.Network, nil
}

func (f *fakeNetworks) Default() (networks.Network, bool) {
	return networks.Network{Name: "bridge", Subnet: netip.MustParsePrefix("10.213.0.0/24"), Gateway: netip.MustParseAddr("10.213.0.1"), Bridge: "banger0"}, true
}

func (f *fakeNetworks) Connect(_ context.Context, ref, network string, aliases []string) (vms.VM, error) {
	vm, err := f.vms.Get(ref)
	if err != nil {
		return vm, err
	}
	if vm.State.Live() {
		return vm, fmt.Errorf("vm %s: %w: it is %s", vm.Name, errdefs.ErrConflict, vm.State)
	}
	if network == vms.NetworkBridge {
		network = vms.NetworkDefault
	}
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("connect %s %q %v", vm.Name, network, aliases))
	f.mu.Unlock()
	return f.vms.set(vm.ID, func(v *vms.VM) { v.Spec.Network, v.Spec.NetworkAliases = network, aliases })
}

func (f *fakeNetworks) Disconnect(ctx context.Context, ref, network string) (vms.VM, error) {
	vm, err := f.vms.Get(ref)
	if err != nil {
		return vm, err
	}
	if vm.Spec.Network != network {
		return vm, fmt.Errorf("vm %s: %w: it is on network %s, not %s", vm.Name, errdefs.ErrConflict, cmp.Or(vm.Spec.Network, "bridge"), network)
	}
	return f.Connect(ctx, ref, vms.NetworkNone, nil)
}
