package vms

import (
	"context"
	"errors"
	"fmt"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
)

// networkStage plugs the VM into its network's bridge (the default one,
// or a user-defined network's): an address leased on
// the first start and kept until rm, and a tap and nft rules (published
// ports) that exist only while the VM runs. hostnet calls back before it
// creates each, so the record names them first.
type networkStage struct{ s *Service }

func (networkStage) Name() string { return "network" }

func (st networkStage) Acquire(ctx context.Context, rt *Runtime) error {
	n, err := st.s.networkOf(ctx, rt.VM.Spec)
	if err != nil {
		return err
	}
	rec := rt.Record
	att, err := n.Attach(ctx, rt.VM.ID, rt.VM.Spec.Ports, func(r hostnet.Resources) error {
		rec.Network = &handles.Network{Lease: handles.Created, IP: r.IP, MAC: r.MAC, Attach: handles.Creating, Resources: r}
		return cpNetRecorded.After(rec.Save())
	})
	if err != nil {
		return err
	}
	cpNetAttached.Hit()
	rec.Network = &handles.Network{Lease: handles.Created, IP: att.Resources.IP, MAC: att.Resources.MAC, Attach: handles.Created, Resources: att.Resources}
	rt.Lease = &att.Lease
	return rec.Save()
}

// Release removes the tap and the VM's nft rules (hostnet finds both by
// the VM id); the lease stays for the next start.
func (st networkStage) Release(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	if (rec.Network == nil || rec.Network.Attach == "") && !rec.IsBroken("network") {
		return nil
	}
	if st.s.Network == nil {
		return fmt.Errorf("tap and rules of vm %s: %w (%w)", rt.VM.ID, errNoNetwork, st.s.NetworkErr)
	}
	// The default network is detached from as it is: a stop or rm does
	// not set it up again (after a daemon restart, a teardown), nor fails
	// because it cannot be. A user network's host side is found by name.
	n := st.s.Network
	if rt.VM.Spec.OnUserNetwork() {
		var err error
		if n, err = st.s.networkOf(ctx, rt.VM.Spec); err != nil {
			return fmt.Errorf("tap and rules of vm %s: %w", rt.VM.ID, err)
		}
	}
	if err := n.Detach(ctx, rt.VM.ID); err != nil {
		return err
	}
	cpNetDetached.Hit()
	// A broken section's lease is hostnet's, by the VM id: the next
	// start gets it back.
	rec.Repaired("network")
	if rec.Network != nil {
		rec.Network.Attach = ""
	}
	return rec.Save()
}

// Remove gives the lease back.
func (st networkStage) Remove(ctx context.Context, rt *Runtime) error {
	if st.s.Network == nil {
		if rt.Record.Network == nil {
			return nil
		}
		return fmt.Errorf("lease of vm %s: %w (%w)", rt.VM.ID, errNoNetwork, st.s.NetworkErr)
	}
	if err := st.s.Network.Release(ctx, rt.VM.ID); err != nil {
		return err
	}
	cpLeaseReleased.Hit()
	if rt.Record.Network == nil {
		return nil
	}
	rt.Record.Network = nil
	return rt.Record.Save()
}

// errNoNetwork says why a recorded network resource cannot be released.
var errNoNetwork = errors.New("host networking is not available in this daemon")
