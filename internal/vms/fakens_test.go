package vms

import (
	"context"
	"net/netip"

	"github.com/bangerdev/banger/internal/hostnet"
)

// fakeNamespaces attaches VMs to namespaces as hostnet.Namespaces does:
// record first, then the tap (in host.nsTaps, by VM id).
type fakeNamespaces struct {
	h *host
	// detached are the handles Detach was given; swept the ids Sweep was.
	detached *[]hostnet.NetnsHandles
	swept    *[]string
}

func (n fakeNamespaces) Attach(_ context.Context, vmID string, t hostnet.NetnsTarget, record func(hostnet.NetnsHandles) error) (hostnet.Lease, error) {
	h := hostnet.NetnsHandles{Path: t.Path, Inode: 4026532, Tap: hostnet.TapName(vmID), Veth: "eth0", Ingress: true}
	if err := record(h); err != nil {
		return hostnet.Lease{}, err
	}
	if err := n.h.do("netns.attach"); err != nil {
		return hostnet.Lease{}, err
	}
	n.h.mu.Lock()
	n.h.nsTaps[vmID] = t.Path
	n.h.mu.Unlock()
	return hostnet.Lease{VMID: vmID, IP: netip.MustParseAddr("10.88.0.5"), Subnet: netip.MustParsePrefix("10.88.0.0/16"),
		Gateway: netip.MustParseAddr("10.88.0.1"), MAC: "0a:58:0a:58:00:05", Tap: h.Tap, MTU: 1450, Netns: t.Path,
		DNS: []netip.Addr{netip.MustParseAddr("10.96.0.10")}}, nil
}

func (n fakeNamespaces) Detach(_ context.Context, h hostnet.NetnsHandles) error {
	if err := n.h.do("netns.detach"); err != nil {
		return err
	}
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	*n.detached = append(*n.detached, h)
	for id, p := range n.h.nsTaps {
		if p == h.Path && hostnet.TapName(id) == h.Tap {
			delete(n.h.nsTaps, id)
		}
	}
	return nil
}

func (n fakeNamespaces) Leftovers(_ context.Context, h hostnet.NetnsHandles) ([]string, error) {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	for id, p := range n.h.nsTaps {
		if p == h.Path && hostnet.TapName(id) == h.Tap {
			return []string{"ip link del " + h.Tap}, nil
		}
	}
	return nil, nil
}

func (n fakeNamespaces) Sweep(_ context.Context, vmID string) error {
	if err := n.h.do("netns.sweep"); err != nil {
		return err
	}
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	*n.swept = append(*n.swept, vmID)
	delete(n.h.nsTaps, vmID)
	return nil
}

func (n fakeNamespaces) Taps(context.Context) []hostnet.NsTap {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	var out []hostnet.NsTap
	for id, p := range n.h.nsTaps {
		out = append(out, hostnet.NsTap{Path: p, Inode: 4026532, Tap: hostnet.TapName(id)})
	}
	return out
}
