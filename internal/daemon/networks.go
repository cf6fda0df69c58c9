package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// netHost is the user networks' host side: a hostnet.Network derived
// from the daemon's for each network (hostnet.ForUser), kept while it is
// up. It is networks.Host for the catalog and vms.Networks for the VM
// service.
type netHost struct {
	d  *Daemon
	mu sync.Mutex
	up map[string]*hostnet.Network // by network id
}

func newNetHost(d *Daemon) *netHost { return &netHost{d: d, up: map[string]*hostnet.Network{}} }

func (h *netHost) def() (*hostnet.Network, error) {
	if h.d.parts.net == nil {
		return nil, fmt.Errorf("user-defined networks: %w: host networking is not available here (%w)", errdefs.ErrUnavailable, h.d.parts.netErr)
	}
	return h.d.parts.net, nil
}

func (h *netHost) Names(id string) (string, string) {
	table := ""
	if n, err := h.def(); err == nil {
		table = n.UserTable(id)
	}
	return hostnet.UserBridge(id), table
}

func (h *netHost) Taken(ctx context.Context) ([]netip.Prefix, error) {
	n, err := h.def()
	if err != nil {
		return nil, err
	}
	return n.Taken(ctx)
}

// instance is the network's hostnet side, made once.
func (h *netHost) instance(rec networks.Network) (*hostnet.Network, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := h.up[rec.ID]; n != nil {
		return n, nil
	}
	def, err := h.def()
	if err != nil {
		return nil, err
	}
	name := rec.Name
	n, err := def.ForUser(rec.ID, rec.Subnet, func(q string) []netip.Addr { return h.d.vms.NetworkAddrs(name, q) })
	if err != nil {
		return nil, err
	}
	h.up[rec.ID] = n
	return n, nil
}

// Up makes the network's bridge, tables and relay. The default network
// is set up before (ip_forward, which a user network must not own) by
// whoever asks the catalog, outside the catalog's lock: the VM service's
// network lock is taken before it by a teardown.
func (h *netHost) Up(ctx context.Context, rec networks.Network) error {
	n, err := h.instance(rec)
	if err != nil {
		return err
	}
	return n.Setup(ctx)
}

func (h *netHost) Down(ctx context.Context, rec networks.Network) error {
	n, err := h.instance(rec)
	if err != nil {
		return err
	}
	h.mu.Lock()
	delete(h.up, rec.ID)
	h.mu.Unlock()
	return n.Teardown(ctx)
}

func (h *netHost) Bridges(ctx context.Context) ([]string, error) {
	def, err := h.def()
	if err != nil {
		return nil, nil //nolint:nilerr // no host networking: nothing of it to list
	}
	return def.UserBridges(ctx)
}

func (h *netHost) RemoveBridge(ctx context.Context, bridge string) error {
	def, err := h.def()
	if err != nil {
		return err
	}
	return def.RemoveUserBridge(ctx, bridge)
}

// networkObjects are the networks' host objects as the inventory shows
// them.
func networkObjects(objs []networks.Object) []api.HostObject {
	out := make([]api.HostObject, 0, len(objs))
	for _, o := range objs {
		out = append(out, api.HostObject{Kind: o.Kind, Name: o.Name, Owner: o.Owner})
	}
	return out
}

// close stops the networks' DNS relays (a next daemon starts its own);
// bridges and tables stay for the VMs that outlive the daemon.
func (h *netHost) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, n := range h.up {
		_ = n.Close()
		delete(h.up, id)
	}
}

// Resolve and Attachable are vms.Networks.
func (h *netHost) Resolve(ref string) (string, error) {
	n, err := h.d.networks.Get(ref)
	return n.Name, err
}

func (h *netHost) Attachable(ctx context.Context, name string) (vms.Network, error) {
	rec, err := h.d.networks.Up(ctx, name)
	if err != nil {
		return nil, err
	}
	return h.instance(rec)
}

// initNetworks builds the catalog of user networks on netHost.
func (d *Daemon) initNetworks() {
	d.netHost = newNetHost(d)
	d.networks = networks.New(networks.Options{
		Store: d.store, Host: d.netHost, Users: vms.NetworkUsers, Pool: hostnet.UserPool,
		Events: d.journal, Log: d.log,
	})
}

// reconcileNetworks brings every user network up at start (the VMs that
// outlived the daemon need their relays).
func (d *Daemon) reconcileNetworks(ctx context.Context) {
	if d.parts.net == nil {
		return
	}
	if ls, _ := d.networks.List(); len(ls) == 0 {
		return
	}
	if err := d.vms.EnsureNetwork(ctx); err != nil {
		d.log.Warn("user networks: the default network", "error", err)
		return
	}
	if err := d.networks.Reconcile(ctx); err != nil {
		d.log.Warn("user networks: reconcile", "error", err)
	}
}

// teardownAll removes the user networks' host objects, then the default
// network's.
func (d *Daemon) teardownAll(ctx context.Context) error {
	return errors.Join(d.networks.DownAll(ctx), d.parts.net.Teardown(ctx))
}
