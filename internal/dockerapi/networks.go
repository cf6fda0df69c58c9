package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Networks is what the Engine API asks of banger's user-defined networks
// (internal/networks, `banger network`) and of the VM service's
// connect and disconnect. The daemon answers with the same services the
// banger API uses.
type Networks interface {
	Create(ctx context.Context, req networks.CreateRequest) (networks.Network, error)
	List() ([]networks.Network, error)
	Inspect(ref string) (networks.Info, error)
	Remove(ctx context.Context, ref string) (networks.Network, error)
	// Default is banger's default network (Docker's bridge) with its
	// subnet and gateway; false when host networking is not available.
	Default() (networks.Network, bool)
	Connect(ctx context.Context, vm, network string, aliases []string) (vms.VM, error)
	Disconnect(ctx context.Context, vm, network string) (vms.VM, error)
}

// networkRoutes: Docker's networks are banger's user-defined networks —
// each its own bridge, subnet, nft table and DNS — plus the predefined
// bridge (banger's default network), host and none.
func (s *Server) networkRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /networks", s.networkList)
	mux.HandleFunc("POST /networks/create", s.networkCreate)
	mux.HandleFunc("POST /networks/prune", s.networkPrune)
	mux.HandleFunc("GET /networks/{id}", s.networkInspect)
	mux.HandleFunc("DELETE /networks/{id}", s.networkRemove)
	mux.HandleFunc("POST /networks/{id}/connect", s.networkConnect)
	mux.HandleFunc("POST /networks/{id}/disconnect", s.networkDisconnect)
}

// errNoNetworks answers where the daemon serves no user networks.
var errNoNetworks = kindError(errdefs.ErrUnavailable, "user-defined networks are not available in this daemon")

// predefinedView is the predefined network name as listed.
func (s *Server) predefinedView(name string) netView {
	v := netView{Network: networks.Network{ID: predefinedID(name), Name: name, Created: createdAt}, Driver: driverOf(name), Builtin: true}
	if name == netBridge && s.opts.Networks != nil {
		if def, ok := s.opts.Networks.Default(); ok {
			v.Subnet, v.Gateway, v.Bridge, v.Table = def.Subnet, def.Gateway, def.Bridge, def.Table
		}
	}
	return v
}

// views are every network: the predefined ones, then the user ones by
// name.
func (s *Server) views() ([]netView, error) {
	var out []netView
	for _, name := range predefined {
		out = append(out, s.predefinedView(name))
	}
	if s.opts.Networks == nil {
		return out, nil
	}
	list, err := s.opts.Networks.List()
	for _, n := range list {
		out = append(out, netView{Network: n, Driver: "bridge"})
	}
	return out, err
}

// network finds the network ref names: a predefined name, a user
// network's name, id or id prefix, or a predefined network's id prefix.
func (s *Server) network(ref string) (netView, error) {
	if slices.Contains(predefined, ref) {
		return s.predefinedView(ref), nil
	}
	if s.opts.Networks != nil {
		in, err := s.opts.Networks.Inspect(ref)
		if err == nil {
			return netView{Network: in.Network, Driver: "bridge"}, nil
		}
		if !isNotFound(err) {
			return netView{}, err
		}
	}
	if ref != "" && isHex(ref) {
		for _, name := range predefined {
			if strings.HasPrefix(predefinedID(name), ref) {
				return s.predefinedView(name), nil
			}
		}
	}
	return netView{}, notFoundNetwork(ref)
}

// vmsOn are the VMs whose spec puts them on n, running or not.
func (s *Server) vmsOn(n netView) ([]vms.VM, error) {
	all, err := s.opts.VMs.List(true)
	return onNetwork(all, n), err
}

// onNetwork are the VMs of all whose spec puts them on n.
func onNetwork(all []vms.VM, n netView) []vms.VM {
	var out []vms.VM
	for _, vm := range all {
		if n.Name != netHost && vm.Spec.Network == n.specName() {
			out = append(out, vm)
		}
	}
	return out
}

func (s *Server) networkList(w http.ResponseWriter, r *http.Request) {
	f, err := parseFiltersOf(r.URL.Query().Get("filters"), networkFilterKeys)
	var views []netView
	var all []vms.VM
	if err == nil {
		views, err = s.views()
	}
	if err == nil {
		all, err = s.opts.VMs.List(true)
	}
	out := []network.Summary{}
	for _, n := range views {
		if err != nil {
			break
		}
		var ok bool
		if ok, err = networkMatch(f, n, len(onNetwork(all, n)) > 0); ok {
			out = append(out, network.Summary{Network: toNetwork(n)})
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) networkInspect(w http.ResponseWriter, r *http.Request) {
	n, err := s.network(r.PathValue("id"))
	var on []vms.VM
	if err == nil {
		on, err = s.vmsOn(n)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, inspectNetwork(n, on))
}

// networkCreate makes a user network (`banger network create`): its
// name, labels and subnet; a name in use is Docker's 409.
func (s *Server) networkCreate(w http.ResponseWriter, r *http.Request) {
	var req network.CreateRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, maxCreateBody)).Decode(&req); err != nil {
		writeError(w, badParam("network create: the request body is not a network config: %v", err))
		return
	}
	in, err := createRequest(req)
	if err == nil && (slices.Contains(predefined, req.Name) || req.Name == network.NetworkDefault) {
		err = kindError(errdefs.ErrConflict, "network with name %s already exists", req.Name)
	}
	if err == nil && s.opts.Networks == nil {
		err = errNoNetworks
	}
	var n networks.Network
	if err == nil {
		n, err = s.opts.Networks.Create(r.Context(), in)
	}
	if errors.Is(err, errdefs.ErrExists) {
		err = kindError(errdefs.ErrConflict, "network with name %s already exists", req.Name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, network.CreateResponse{ID: n.ID})
}

// networkRemove removes a user network no container uses; a predefined
// one, or one in use, is Docker's 403.
func (s *Server) networkRemove(w http.ResponseWriter, r *http.Request) {
	n, err := s.network(r.PathValue("id"))
	if err == nil && n.Builtin {
		err = kindError(errdefs.ErrPermission, "%s is a pre-defined network and cannot be removed", n.Name)
	}
	if err == nil {
		_, err = s.opts.Networks.Remove(r.Context(), n.Name)
	}
	if errors.Is(err, errdefs.ErrConflict) {
		if in, ierr := s.opts.Networks.Inspect(n.Name); ierr == nil && len(in.Users) > 0 {
			err = inUseError(n, in.Users)
		}
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// networkPrune removes the user networks no container uses that the
// label filters take.
func (s *Server) networkPrune(w http.ResponseWriter, r *http.Request) {
	f, err := parseFiltersOf(r.URL.Query().Get("filters"), []string{"label", "label!"})
	var views []netView
	var all []vms.VM
	if err == nil {
		views, err = s.views()
	}
	if err == nil {
		all, err = s.opts.VMs.List(true)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	rep := network.PruneReport{NetworksDeleted: []string{}}
	for _, n := range views {
		if n.Builtin || f.pruneKeeps(n.Labels) || len(onNetwork(all, n)) > 0 {
			continue
		}
		if _, err := s.opts.Networks.Remove(r.Context(), n.Name); err != nil {
			s.opts.Log.Info("docker api network prune kept a network", "network", n.Name, "error", err)
			continue
		}
		rep.NetworksDeleted = append(rep.NetworksDeleted, n.Name)
	}
	writeJSON(w, http.StatusOK, rep)
}

// fillEndpoints gives each endpoint its network's id, and a live one
// the network's gateway and prefix length, as Docker's inspect shows
// them.
func (s *Server) fillEndpoints(eps map[string]*network.EndpointSettings) {
	for name, ep := range eps {
		n, err := s.network(name)
		if err != nil || ep == nil {
			continue
		}
		ep.NetworkID = n.ID
		if ep.IPAddress.IsValid() && n.Subnet.IsValid() {
			ep.Gateway, ep.IPPrefixLen = n.Gateway, n.Subnet.Bits()
		}
	}
}
