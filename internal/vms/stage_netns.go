package vms

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Namespaces attaches VMs to network namespaces others made (a
// *hostnet.Namespaces): `--network netns:PATH[:IFACE]`.
type Namespaces interface {
	Attach(ctx context.Context, vmID string, t hostnet.NetnsTarget, record func(hostnet.NetnsHandles) error) (hostnet.Lease, error)
	Detach(ctx context.Context, h hostnet.NetnsHandles) error
	// Leftovers names what of h is still in its namespace.
	Leftovers(ctx context.Context, h hostnet.NetnsHandles) ([]string, error)
	// Sweep detaches the VM by its id from every named namespace.
	Sweep(ctx context.Context, vmID string) error
	// Taps lists banger's taps in the namespaces `ip netns` knows.
	Taps(ctx context.Context) []hostnet.NsTap
}

// netnsStage is the network stage of a VM attached to a network
// namespace instead of banger's bridge (a pod's, made by a CNI plugin):
// its tap lives in the namespace, joined to the namespace's interface by
// tc redirects, and the guest takes that interface's address, gateway
// and MAC. It holds nothing across stops (no lease: the namespace's
// owner manages addresses), and banger's NAT, published ports and
// firewall do not apply.
type netnsStage struct{ s *Service }

func (netnsStage) Name() string { return "network" }

func (st netnsStage) Acquire(ctx context.Context, rt *Runtime) error {
	t, _, err := hostnet.ParseNetns(rt.VM.Spec.Network)
	if err != nil {
		return err
	}
	if st.s.Namespaces == nil {
		return fmt.Errorf("attach to %s: %w", t, errNoNamespaces(st.s.NetworkErr))
	}
	if !rt.caps().Netns {
		return fmt.Errorf("attach to %s: %w: the %s backend cannot reach a tap in another network namespace; use --vmm qemu", t, errdefs.ErrUnsupported, rt.Backend.Name())
	}
	rec := rt.Record
	lease, err := st.s.Namespaces.Attach(ctx, rt.VM.ID, t, func(h hostnet.NetnsHandles) error {
		rec.Netns = &handles.Netns{State: handles.Creating, Handles: h}
		return cpNetnsRecorded.After(rec.Save())
	})
	if err != nil {
		return err
	}
	cpNetnsAttached.Hit()
	rec.Netns.State, rec.Netns.IP, rec.Netns.MAC = handles.Created, lease.IP.String(), lease.MAC
	rt.Lease = &lease
	return rec.Save()
}

// Release removes the tap and banger's filters from the namespace, from
// the record alone (a namespace gone meanwhile took them along). A
// broken section is swept by the VM id through the namespaces `ip
// netns` knows.
func (st netnsStage) Release(ctx context.Context, rt *Runtime) error {
	rec := rt.Record
	if rec.Netns == nil && !rec.IsBroken("netns") {
		return nil
	}
	if st.s.Namespaces == nil {
		return fmt.Errorf("tap of vm %s in a network namespace: %w", rt.VM.ID, errNoNamespaces(st.s.NetworkErr))
	}
	var err error
	if rec.Netns != nil {
		err = st.s.Namespaces.Detach(ctx, rec.Netns.Handles)
	} else {
		err = st.s.Namespaces.Sweep(ctx, rt.VM.ID)
	}
	if err != nil {
		return err
	}
	cpNetnsDetached.Hit()
	rec.Repaired("netns")
	rec.Netns = nil
	return rec.Save()
}

// errNoNamespaces says why this daemon cannot touch network namespaces.
func errNoNamespaces(why error) error {
	if why == nil {
		why = errors.New("not configured")
	}
	return fmt.Errorf("network namespaces are not available in this daemon: %w (%w)", errdefs.ErrUnavailable, why)
}

// netnsObjects adds to an inventory the VMs' taps in network namespaces:
// what each record names and is still there (one object per VM: Detach
// removes it all), and any "bg-" tap in a namespace `ip netns` knows —
// so a lost record still leaves the tap findable. Only taps of this
// daemon's VMs (known) are listed.
func (s *Service) netnsObjects(ctx context.Context, vms []VM, known map[string]bool, add func(name, owner string, remove func() error)) {
	if s.Namespaces == nil {
		return
	}
	type key struct {
		ino uint64
		tap string
	}
	seen := map[key]bool{}
	for _, vm := range vms {
		rec, err := handles.Open(filepath.Join(s.Layout.VM(vm.ID), handles.FileName), vm.ID)
		if err != nil || rec.Netns == nil {
			continue
		}
		h := rec.Netns.Handles
		left, err := s.Namespaces.Leftovers(ctx, h)
		if err != nil {
			s.Log.Warn("cannot look into a VM's network namespace", "vm", vm.ID, "netns", h.Path, "error", err)
			continue
		}
		if len(left) > 0 {
			seen[key{h.Inode, h.Tap}] = true
			add(h.Tap+" in "+h.Path, vm.ID, func() error { return s.Namespaces.Detach(ctx, h) })
		}
	}
	for _, t := range s.Namespaces.Taps(ctx) {
		owner := strings.TrimPrefix(t.Tap, hostnet.TapPrefix)
		if seen[key{t.Inode, t.Tap}] || !known[owner] {
			continue
		}
		add(t.Tap+" in "+t.Path, owner, func() error {
			return s.Namespaces.Detach(ctx, hostnet.NetnsHandles{Path: t.Path, Inode: t.Inode, Tap: t.Tap})
		})
	}
}
