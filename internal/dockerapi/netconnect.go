package dockerapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// networkConnect puts a stopped container on a network, with the
// endpoint's aliases. A banger container is a VM with one network
// interface: one on a user network must be disconnected from it first,
// and a running one is refused (its NIC cannot move under it).
func (s *Server) networkConnect(w http.ResponseWriter, r *http.Request) {
	var req network.ConnectRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxCreateBody)).Decode(&req); err != nil {
		writeError(w, badParam("network connect: the request body is not a connect request: %v", err))
		return
	}
	n, vm, err := s.endpointTargets(r.PathValue("id"), req.Container)
	var aliases []string
	if err == nil && req.EndpointConfig != nil {
		aliases = req.EndpointConfig.Aliases
		err = endpointRefusals(req.EndpointConfig)
	}
	if err == nil && vm.Spec.OnUserNetwork() && vm.Spec.Network != n.Name {
		err = kindError(errdefs.ErrConflict, "container %s is on network %s: a banger container is a VM with one network interface; disconnect it first (docker network disconnect %s %s)",
			vm.Name, vm.Spec.Network, vm.Spec.Network, vm.Name)
	}
	if err == nil {
		target := n.specName()
		if target == vms.NetworkDefault {
			target = vms.NetworkBridge
		}
		_, err = s.opts.Networks.Connect(r.Context(), vm.ID, target, aliases)
		err = s.runningErr(err, vm, "connect", n)
	}
	endpointDone(w, err)
}

// networkDisconnect takes a stopped container off a network: it then
// has none, as a Docker container disconnected from its only network.
func (s *Server) networkDisconnect(w http.ResponseWriter, r *http.Request) {
	var req network.DisconnectRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxCreateBody)).Decode(&req); err != nil {
		writeError(w, badParam("network disconnect: the request body is not a disconnect request: %v", err))
		return
	}
	n, vm, err := s.endpointTargets(r.PathValue("id"), req.Container)
	if err == nil && vm.Spec.Network != n.specName() {
		err = kindError(errdefs.ErrConflict, "container %s is not connected to network %s", vm.Name, n.Name)
	}
	if err == nil {
		_, err = s.opts.Networks.Disconnect(r.Context(), vm.ID, n.specName())
		err = s.runningErr(err, vm, "disconnect", n)
	}
	endpointDone(w, err)
}

// endpointTargets finds a connect's or disconnect's network and
// container; host cannot be either's.
func (s *Server) endpointTargets(netRef, ctrRef string) (netView, vms.VM, error) {
	n, err := s.network(netRef)
	if err != nil {
		return n, vms.VM{}, err
	}
	if n.Name == netHost {
		return n, vms.VM{}, refuse("network host", whyKernel+" network stack")
	}
	if s.opts.Networks == nil {
		return n, vms.VM{}, errNoNetworks
	}
	vm, err := s.vm(ctrRef)
	return n, vm, err
}

// runningErr is the VM service's refusal of a running container's
// connect or disconnect in Docker's terms.
func (s *Server) runningErr(err error, vm vms.VM, verb string, n netView) error {
	if errors.Is(err, errdefs.ErrConflict) {
		if cur, gerr := s.opts.VMs.Get(vm.ID); gerr == nil && (cur.State.Live() || cur.State == vms.Restarting) {
			return kindError(errdefs.ErrConflict, "container %s is %s: a banger container is a VM with one network interface, which changes networks only while it is stopped; docker stop %s, then network %s %s %s, then start it",
				vm.Name, cur.State, vm.Name, verb, n.Name, vm.Name)
		}
	}
	return err
}

// endpointDone answers a connect or disconnect.
func endpointDone(w http.ResponseWriter, err error) {
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// endpointRefusals refuses what an endpoint's config asks that a banger
// network does not do: a fixed address, legacy links, driver options.
func endpointRefusals(ep *network.EndpointSettings) error {
	switch {
	case ep.IPAMConfig != nil && (ep.IPAMConfig.IPv4Address.IsValid() || ep.IPAMConfig.IPv6Address.IsValid() || len(ep.IPAMConfig.LinkLocalIPs) > 0):
		return refuse("--ip, --ip6, --link-local-ip (EndpointSettings.IPAMConfig)", "a container's address is leased when it starts")
	case len(ep.Links) > 0:
		return refuse("--link (EndpointSettings.Links)", "legacy links are not supported; containers on a network resolve each other's names")
	case len(ep.DriverOpts) > 0:
		return refuse("--driver-opt (EndpointSettings.DriverOpts)", "a banger network has no driver options")
	}
	return nil
}
