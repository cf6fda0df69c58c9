package vms

import (
	"context"
	"net/netip"

	"github.com/bangerdev/banger/internal/hostnet"
)

// fakeNetwork leases, attaches and detaches, as hostnet does.
type fakeNetwork struct{ h *host }

func (n fakeNetwork) Setup(context.Context) error { return n.h.do("net.setup") }

func (n fakeNetwork) Attach(_ context.Context, vmID string, ports []hostnet.Port, record func(hostnet.Resources) error) (hostnet.Attachment, error) {
	n.h.mu.Lock()
	n.h.leases[vmID] = true
	n.h.mu.Unlock()
	r := hostnet.Resources{Tap: hostnet.TapName(vmID), IP: "10.0.0.5", MAC: "02:00:00:00:00:05", Marker: hostnet.Marker(vmID), Ports: ports}
	if err := record(r); err != nil {
		return hostnet.Attachment{}, err
	}
	if err := n.h.do("net.attach"); err != nil {
		return hostnet.Attachment{}, err // hostnet undoes its tap itself
	}
	n.h.mu.Lock()
	n.h.taps[vmID] = true
	n.h.mu.Unlock()
	lease := hostnet.Lease{VMID: vmID, IP: netip.MustParseAddr("10.0.0.5"), Subnet: netip.MustParsePrefix("10.0.0.0/24"),
		Gateway: netip.MustParseAddr("10.0.0.1"), MAC: r.MAC, Tap: r.Tap, MTU: 1500}
	return hostnet.Attachment{Lease: lease, Resources: r}, nil
}

func (n fakeNetwork) Detach(_ context.Context, vmID string) error {
	if err := n.h.do("net.detach"); err != nil {
		return err
	}
	n.h.mu.Lock()
	delete(n.h.taps, vmID)
	n.h.mu.Unlock()
	return nil
}

func (n fakeNetwork) Release(_ context.Context, vmID string) error {
	if err := n.h.do("net.release"); err != nil {
		return err
	}
	n.h.mu.Lock()
	delete(n.h.leases, vmID)
	n.h.mu.Unlock()
	return nil
}

func (n fakeNetwork) Inventory(context.Context) (hostnet.Inventory, error) {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	var inv hostnet.Inventory
	for id := range n.h.taps {
		inv.Taps = append(inv.Taps, hostnet.TapInfo{Name: hostnet.TapName(id), Bridge: "bgtest", VMID: id})
	}
	for id := range n.h.leases {
		inv.Leases = append(inv.Leases, hostnet.Lease{VMID: id, IP: netip.MustParseAddr("10.0.0.5")})
	}
	return inv, nil
}

func (n fakeNetwork) Remove(ctx context.Context, o hostnet.Owned) error {
	for _, t := range o.Taps {
		if err := n.Detach(ctx, t.VMID); err != nil {
			return err
		}
	}
	return nil
}
