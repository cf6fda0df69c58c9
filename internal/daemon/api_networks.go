package daemon

import (
	"context"
	"net/http"

	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
)

// networkRoutes registers the user-defined networks' API.
func (d *Daemon) networkRoutes(rt *api.Router) {
	api.Handle(rt, api.CreateNetwork, func(r *http.Request, req api.CreateNetworkRequest) (api.Network, error) {
		n, err := d.createNetwork(r.Context(), networks.CreateRequest{Name: req.Name, Subnet: req.Subnet, Labels: req.Labels})
		return networkToAPI(networks.Info{Network: n}), err
	})
	api.Handle(rt, api.ListNetworks, func(*http.Request, api.None) ([]api.Network, error) {
		out := []api.Network{}
		if def, ok := d.defaultNetwork(); ok {
			out = append(out, def)
		}
		ns, err := d.networks.List()
		for _, n := range ns {
			out = append(out, networkToAPI(networks.Info{Network: n}))
		}
		return out, err
	})
	api.Handle(rt, api.GetNetwork, func(r *http.Request, _ api.None) (api.Network, error) {
		if def, ok := d.defaultNetwork(); ok && r.PathValue("name") == api.DefaultNetwork {
			return def, nil
		}
		in, err := d.networks.Inspect(r.PathValue("name"))
		return networkToAPI(in), err
	})
	api.Handle(rt, api.RemoveNetwork, func(r *http.Request, _ api.None) (api.Network, error) {
		n, err := d.networks.Remove(r.Context(), r.PathValue("name"))
		return networkToAPI(networks.Info{Network: n}), err
	})
	api.Handle(rt, api.PruneNetworks, func(r *http.Request, _ api.None) ([]string, error) {
		out, err := d.networks.Prune(r.Context())
		if out == nil {
			out = []string{}
		}
		return out, err
	})
	api.Handle(rt, api.ConnectNetwork, func(r *http.Request, req api.ConnectNetworkRequest) (api.VM, error) {
		name, err := d.networkName(r.PathValue("name"))
		if err != nil {
			return api.VM{}, err
		}
		vm, err := d.vms.Connect(r.Context(), req.VM, name, req.Aliases)
		return vmToAPI(vm), err
	})
	api.Handle(rt, api.DisconnectNetwork, func(r *http.Request, req api.ConnectNetworkRequest) (api.VM, error) {
		name, err := d.networkName(r.PathValue("name"))
		if err != nil {
			return api.VM{}, err
		}
		vm, err := d.vms.Disconnect(r.Context(), req.VM, name)
		return vmToAPI(vm), err
	})
}

// createNetwork makes a user network once the default network, whose
// host settings it needs, is up.
func (d *Daemon) createNetwork(ctx context.Context, req networks.CreateRequest) (networks.Network, error) {
	if _, err := d.netHost.def(); err != nil {
		return networks.Network{}, err
	}
	if err := d.vms.EnsureNetwork(ctx); err != nil {
		return networks.Network{}, err
	}
	return d.networks.Create(ctx, req)
}

// dockerNetworks are the user networks as the Engine API asks for them
// (dockerapi.Networks): the catalog, the VM service's connect and
// disconnect, and the default network.
type dockerNetworks struct {
	*networks.Service
	d *Daemon
}

func (n dockerNetworks) Create(ctx context.Context, req networks.CreateRequest) (networks.Network, error) {
	return n.d.createNetwork(ctx, req)
}

func (n dockerNetworks) Connect(ctx context.Context, vm, network string, aliases []string) (vms.VM, error) {
	return n.d.vms.Connect(ctx, vm, network, aliases)
}

func (n dockerNetworks) Disconnect(ctx context.Context, vm, network string) (vms.VM, error) {
	return n.d.vms.Disconnect(ctx, vm, network)
}

func (n dockerNetworks) Default() (networks.Network, bool) {
	net := n.d.parts.net
	if net == nil {
		return networks.Network{}, false
	}
	return networks.Network{Name: api.DefaultNetwork, Subnet: net.Subnet(), Gateway: net.Gateway(), Bridge: net.Bridge(), Table: net.Table()}, true
}

// networkName is the name a VM's spec carries for ref: a user network's
// name (ref may be its id), or the default network's (empty) for bridge.
func (d *Daemon) networkName(ref string) (string, error) {
	if ref == api.DefaultNetwork {
		return vms.NetworkDefault, nil
	}
	n, err := d.networks.Get(ref)
	return n.Name, err
}

// defaultNetwork is banger's own network as listings show it.
func (d *Daemon) defaultNetwork() (api.Network, bool) {
	n, ok := dockerNetworks{d: d}.Default()
	if !ok {
		return api.Network{}, false
	}
	return api.Network{
		ID: api.DefaultNetwork, Name: api.DefaultNetwork, Subnet: n.Subnet.String(), Gateway: n.Gateway.String(),
		Bridge: n.Bridge, Table: n.Table, Default: true,
	}, true
}

func networkToAPI(in networks.Info) api.Network {
	out := api.Network{
		ID: in.ID, Name: in.Name, Bridge: in.Bridge, Table: in.Table, Labels: in.Labels, Created: in.Created, VMs: in.Users,
	}
	if in.Subnet.IsValid() {
		out.Subnet, out.Gateway = in.Subnet.String(), in.Gateway.String()
	}
	return out
}
