package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Lease is a VM's place on the bridge and what its guest configures: eth0
// gets IP/Subnet.Bits() with MAC and MTU, a default route via Gateway, and
// DNS as its resolvers.
type Lease struct {
	VMID    string       `json:"vm_id"`
	IP      netip.Addr   `json:"ip"`
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	MAC     string       `json:"mac"`
	Tap     string       `json:"tap"`
	MTU     int          `json:"mtu"`
	DNS     []netip.Addr `json:"dns,omitempty"`
	// Ports are the mappings published while the VM is attached.
	Ports []Port `json:"ports,omitempty"`
	// Netns is the network namespace Tap is in (Namespaces.Attach); empty
	// for the host's, on banger's bridge.
	Netns   string    `json:"netns,omitempty"`
	Created time.Time `json:"created"`
}

// Address is the guest's address with the subnet's prefix length.
func (l Lease) Address() netip.Prefix { return netip.PrefixFrom(l.IP, l.Subnet.Bits()) }

// leaseRecord is what the store keeps, keyed by VM id in store.Leases;
// the rest of a Lease follows from the configuration.
type leaseRecord struct {
	VMID    string     `json:"vm_id"`
	IP      netip.Addr `json:"ip"`
	Tap     string     `json:"tap"`
	MAC     string     `json:"mac"`
	Ports   []Port     `json:"ports,omitempty"`
	Created time.Time  `json:"created"`
}

// Lease returns the VM's lease, allocating the lowest free address of the
// subnet the first time. A lease survives stop/start and daemon restarts;
// only Release ends it. A lease outside the configured subnet (the subnet
// was changed) is moved into it. Each call is one store transaction, so
// concurrent calls never hand out one address twice.
func (n *Network) Lease(ctx context.Context, vmID string) (Lease, error) {
	if err := checkVMID(vmID); err != nil {
		return Lease{}, err
	}
	if err := ctx.Err(); err != nil {
		return Lease{}, err
	}
	var rec leaseRecord
	err := n.st.Update(func(tx *store.Tx) error {
		err := tx.Get(store.Leases, vmID, &rec)
		if err == nil && n.cfg.Subnet.Contains(rec.IP) {
			return nil
		}
		if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		all, err := store.List[leaseRecord](tx, store.Leases)
		if err != nil {
			return err
		}
		tap, used := TapName(vmID), map[netip.Addr]bool{}
		for _, l := range all {
			if l.VMID == vmID {
				continue
			}
			if l.Tap == tap {
				return fmt.Errorf("lease for vm %s: %w: vm %s already uses tap %s (ids must differ in their first %d characters)", vmID, errdefs.ErrConflict, l.VMID, tap, TapIDLen)
			}
			used[l.IP] = true
		}
		ip, ok := n.firstFree(used)
		if !ok {
			return fmt.Errorf("lease for vm %s: %w: subnet %s is full (%d leases); remove VMs or widen network.subnet", vmID, errdefs.ErrUnavailable, n.cfg.Subnet, len(used))
		}
		rec = leaseRecord{VMID: vmID, IP: ip, Tap: tap, MAC: MAC(vmID).String(), Created: time.Now().UTC()}
		return tx.Put(store.Leases, vmID, rec)
	})
	if err != nil {
		return Lease{}, err
	}
	return n.lease(rec), nil
}

// LeaseOf returns the VM's lease without allocating one (ErrNotFound).
func (n *Network) LeaseOf(vmID string) (Lease, error) {
	rec, err := store.Get[leaseRecord](n.st, store.Leases, vmID)
	if err != nil {
		return Lease{}, err
	}
	return n.lease(rec), nil
}

// Release ends the VM's lease, freeing its address. Call it after Detach,
// when the VM is removed; a missing lease is not an error.
func (n *Network) Release(ctx context.Context, vmID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := n.st.Delete(store.Leases, vmID); err != nil {
		return fmt.Errorf("release lease of vm %s: %w", vmID, err)
	}
	return nil
}

// Leases lists every lease in the store, in VM id order.
func (n *Network) Leases() ([]Lease, error) {
	recs, err := store.ListAll[leaseRecord](n.st, store.Leases)
	if err != nil {
		return nil, err
	}
	out := make([]Lease, 0, len(recs))
	for _, r := range recs {
		out = append(out, n.lease(r))
	}
	return out, nil
}

func (n *Network) lease(r leaseRecord) Lease {
	return Lease{
		VMID: r.VMID, IP: r.IP, Subnet: n.cfg.Subnet, Gateway: n.cfg.Gateway,
		MAC: r.MAC, Tap: r.Tap, MTU: n.cfg.MTU, DNS: n.guestDNS(), Ports: r.Ports, Created: r.Created,
	}
}

// firstFree is the lowest address after the gateway, before the
// broadcast address, that is not used.
func (n *Network) firstFree(used map[netip.Addr]bool) (netip.Addr, bool) {
	for ip := n.cfg.Gateway.Next(); n.cfg.Subnet.Contains(ip.Next()); ip = ip.Next() {
		if !used[ip] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// setPorts records the VM's published ports in its lease, refusing a host
// port another VM holds, and picks a free host port for each mapping
// without one (pickPorts: not another VM's, not held by a host program).
// One transaction, so two VMs racing for a port cannot both win. It
// returns the ports as recorded.
func (n *Network) setPorts(vmID string, ports []Port) ([]Port, error) {
	err := n.st.Update(func(tx *store.Tx) error {
		var rec leaseRecord
		if err := tx.Get(store.Leases, vmID, &rec); err != nil {
			if len(ports) == 0 && errors.Is(err, errdefs.ErrNotFound) {
				return nil
			}
			return err
		}
		if len(ports) > 0 {
			all, err := store.List[leaseRecord](tx, store.Leases)
			if err != nil {
				return err
			}
			var taken []Port
			for _, other := range all {
				if other.VMID == vmID {
					continue
				}
				for _, p := range ports {
					for _, q := range other.Ports {
						if portsClash(p, q) {
							return fmt.Errorf("publish %s for vm %s: %w: vm %s already publishes %s", FormatPort(p), vmID, errdefs.ErrConflict, other.VMID, FormatPort(q))
						}
					}
				}
				taken = append(taken, other.Ports...)
			}
			if ports, err = pickPorts(ports, taken, n.ports.rng(), randomStart(), n.ports.free); err != nil {
				return fmt.Errorf("vm %s: %w", vmID, err)
			}
		}
		rec.Ports = ports
		return tx.Put(store.Leases, vmID, rec)
	})
	if err != nil {
		return nil, err
	}
	return ports, nil
}
