package hostnet

import (
	"context"
	"errors"
	"net/netip"
)

// Inventory is every host object banger's network owns, found by name and
// marker rather than by records, so leaks show up even when the records
// are gone. (banger's table has no sets: every per-VM nft object is a
// rule.)
type Inventory struct {
	// Bridge is nil when it does not exist.
	Bridge *BridgeInfo `json:"bridge,omitempty"`
	// Taps are all "bg-" taps on the host, on any bridge.
	Taps []TapInfo `json:"taps"`
	// Table is nil when banger's nft table does not exist.
	Table  *TableInfo `json:"nft_table,omitempty"`
	Leases []Lease    `json:"leases"`
}

// BridgeInfo is banger's bridge.
type BridgeInfo struct {
	Name  string         `json:"name"`
	Addrs []netip.Prefix `json:"addrs"`
}

// TapInfo is one of banger's taps.
type TapInfo struct {
	Name     string `json:"name"`
	Bridge   string `json:"bridge,omitempty"`
	Isolated bool   `json:"isolated"`
	// VMID is the lease holder of the tap's name; empty for an orphan.
	VMID string `json:"vm_id,omitempty"`
}

// TableInfo is banger's nft table and its rules.
type TableInfo struct {
	Name  string     `json:"name"`
	Rules []RuleInfo `json:"rules"`
}

// Inventory lists banger's bridge, taps, nft table and rules, and leases.
func (n *Network) Inventory(ctx context.Context) (Inventory, error) {
	var inv Inventory
	st, err := n.links.state(ctx, n.cfg.Bridge)
	if err != nil {
		return inv, err
	}
	if st.Bridge != nil {
		inv.Bridge = &BridgeInfo{Name: n.cfg.Bridge, Addrs: st.Bridge.Addrs}
	}
	found, rules, err := n.nft.rules(ctx, n.cfg.Table)
	if err != nil {
		return inv, err
	}
	if found {
		inv.Table = &TableInfo{Name: n.cfg.Table, Rules: rules}
	}
	if inv.Leases, err = n.Leases(); err != nil {
		return inv, err
	}
	owner := map[string]string{}
	for _, l := range inv.Leases {
		owner[l.Tap] = l.VMID
	}
	for _, t := range st.Taps {
		t.VMID = owner[t.Name]
		inv.Taps = append(inv.Taps, t)
	}
	return inv, nil
}

// Owned is a selection of the inventory: what one VM holds (Of), or what
// nobody does (Orphans).
type Owned struct {
	Taps  []TapInfo  `json:"taps,omitempty"`
	Rules []RuleInfo `json:"rules,omitempty"`
	// Lease is the VM's own (Of); Leases are orphaned ones (Orphans).
	Lease  *Lease  `json:"lease,omitempty"`
	Leases []Lease `json:"leases,omitempty"`
}

// Err describes what is left, or is nil.
func (o Owned) Err() error {
	var errs []error
	for _, t := range o.Taps {
		errs = append(errs, errors.New("tap "+t.Name))
	}
	for _, r := range o.Rules {
		errs = append(errs, errors.New("nft rule in chain "+r.Chain+" comment "+r.Comment))
	}
	if o.Lease != nil {
		errs = append(errs, errors.New("lease "+o.Lease.IP.String()))
	}
	for _, l := range o.Leases {
		errs = append(errs, errors.New("lease "+l.IP.String()+" of vm "+l.VMID))
	}
	return errors.Join(errs...)
}

// Of picks out the VM's objects: the tap named for it, the rules marked
// with its id, its lease.
func (inv Inventory) Of(vmID string) Owned {
	var o Owned
	for _, t := range inv.Taps {
		if t.Name == TapName(vmID) {
			o.Taps = append(o.Taps, t)
		}
	}
	if inv.Table != nil {
		for _, r := range inv.Table.Rules {
			if r.VMID == vmID {
				o.Rules = append(o.Rules, r)
			}
		}
	}
	for _, l := range inv.Leases {
		if l.VMID == vmID {
			o.Lease = &l
		}
	}
	return o
}

// Orphans picks out what no VM in vmIDs (every VM record the daemon has)
// owns: taps not named for any of them, rules marked for none, leases of
// none. The base rules of the table are never orphans. A known VM that is
// not running may still hold a tap; reconcile Detaches those by id.
func (inv Inventory) Orphans(vmIDs []string) Owned {
	known, taps := map[string]bool{}, map[string]bool{}
	for _, id := range vmIDs {
		known[id], taps[TapName(id)] = true, true
	}
	var o Owned
	for _, t := range inv.Taps {
		if !taps[t.Name] {
			o.Taps = append(o.Taps, t)
		}
	}
	if inv.Table != nil {
		for _, r := range inv.Table.Rules {
			if r.VMID != "" && !known[r.VMID] {
				o.Rules = append(o.Rules, r)
			}
		}
	}
	for _, l := range inv.Leases {
		if !known[l.VMID] {
			o.Leases = append(o.Leases, l)
		}
	}
	return o
}

// Remove deletes what o lists (`banger gc`): the taps, every rule carrying
// a listed rule's marker, the leases. It goes on past failures and
// returns them all.
func (n *Network) Remove(ctx context.Context, o Owned) error {
	var errs []error
	for _, t := range o.Taps {
		errs = append(errs, n.links.apply(ctx, []linkOp{opDelLink{Name: t.Name}}))
	}
	done := map[string]bool{}
	for _, r := range o.Rules {
		if !done[r.Comment] {
			done[r.Comment] = true
			errs = append(errs, n.nft.deleteMarked(ctx, n.cfg.Table, r.Comment))
		}
	}
	leases := o.Leases
	if o.Lease != nil {
		leases = append(leases, *o.Lease)
	}
	for _, l := range leases {
		errs = append(errs, n.Release(ctx, l.VMID))
	}
	return errors.Join(errs...)
}
