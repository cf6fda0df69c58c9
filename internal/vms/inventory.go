package vms

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// hostObject is one host object banger owns, found by its marker.
type hostObject struct {
	HostObject
	// persistent objects (leases, VM directories) belong to a VM until it
	// is removed; the others only while it runs.
	persistent bool
	remove     func() error
}

// inventory finds every host object this daemon owns — VMM processes,
// runtime and VM directories, VMM cgroups, taps, nft rules, leases — by
// the markers they carry (docs/architecture.md, "Ownership markers"). Reconcile, gc,
// doctor and the tests' leak checks all use it. Only objects this daemon
// can prove are its own are listed: other daemons (another --root, tests)
// run VMMs and taps on the same host.
func (s *Service) inventory(ctx context.Context) []hostObject {
	known := map[string]bool{}
	vms, _ := store.ListAll[VM](s.Store, store.VMs)
	for _, vm := range vms {
		known[vm.ID] = true
	}
	var out []hostObject
	add := func(kind, name, owner string, persistent bool, remove func() error) {
		out = append(out, hostObject{HostObject: HostObject{Kind: kind, Name: name, Owner: owner}, persistent: persistent, remove: remove})
	}
	if procs, err := proc.EnvPrefixed(vmm.EnvVMID); err == nil {
		for pid, owner := range procs {
			if pid == os.Getpid() || !known[owner] {
				continue
			}
			if id, err := proc.Lookup(pid); err == nil {
				add("process", fmt.Sprintf("pid %d", pid), owner, false, func() error { return id.Kill(10 * time.Second) })
			}
		}
	}
	if entries, err := os.ReadDir(s.Layout.VMRuntimes()); err == nil {
		for _, e := range entries {
			id := e.Name()
			add("runtime-dir", filepath.Join(s.Layout.VMRuntimes(), id), id, false, func() error { return removeRunDir(s.Layout, id) })
		}
	}
	if entries, err := os.ReadDir(s.Layout.VMs()); err == nil {
		for _, e := range entries {
			if id := e.Name(); isHex(id) {
				add("vm-dir", s.Layout.VM(id), id, true, func() error { return os.RemoveAll(s.Layout.VM(id)) })
			}
		}
	}
	for _, b := range s.Backends.Backends() {
		sw, ok := b.(vmm.Sweeper)
		if !ok {
			continue
		}
		objs, err := sw.Owned()
		if err != nil {
			s.Log.Warn("cannot list the backend's host objects", "backend", b.Name(), "error", err)
			continue
		}
		for _, o := range objs {
			if known[o.VMID] { // a VM of another daemon sharing the parent otherwise
				add(o.Kind, o.Name, o.VMID, false, func() error { return sw.Sweep(o.VMID) })
			}
		}
	}
	if s.Network != nil {
		if inv, err := s.Network.Inventory(ctx); err == nil {
			for _, t := range inv.Taps {
				owner := t.VMID
				if owner == "" {
					// No lease names it: the tap's name does ("bg-" + the
					// VM id, whole, since ids are 12 characters).
					owner = strings.TrimPrefix(t.Name, "bg-")
				}
				if t.Bridge != s.Bridge && !known[owner] {
					continue // another daemon's
				}
				add("tap", t.Name, owner, false, func() error { return s.Network.Remove(ctx, hostnet.Owned{Taps: []hostnet.TapInfo{t}}) })
			}
			if inv.Table != nil {
				for _, r := range inv.Table.Rules {
					if r.VMID != "" {
						add("nft-rule", r.Comment, r.VMID, false, func() error { return s.Network.Detach(ctx, r.VMID) })
					}
				}
			}
			for _, l := range inv.Leases {
				add("lease", l.IP.String(), l.VMID, true, func() error { return s.Network.Release(ctx, l.VMID) })
			}
		}
	}
	s.netnsObjects(ctx, vms, known, func(name, owner string, remove func() error) {
		add("netns-tap", name, owner, false, remove)
	})
	return out
}

// sweep removes (unless dryRun) the owned objects no VM explains: runtime
// objects of VMs that are not running, persistent objects of VMs that no
// longer exist.
func (s *Service) sweep(ctx context.Context, dryRun bool) GCReport {
	known := map[string]bool{}
	vms, _ := store.ListAll[VM](s.Store, store.VMs)
	for _, vm := range vms {
		known[vm.ID] = true
	}
	rep := GCReport{DryRun: dryRun, Objects: []HostObject{}}
	seen := map[string]bool{}
	orphan := func(o hostObject) bool {
		return (o.persistent && !known[o.Owner]) || (!o.persistent && s.live.any(o.Owner) == nil)
	}
	for _, o := range s.inventory(ctx) {
		if !orphan(o) {
			continue
		}
		if !dryRun {
			o.Removed, o.Error = s.removeOrphan(o, orphan, seen)
			if !o.Removed && o.Error == "" {
				continue // it turned out to be in use
			}
		}
		rep.Objects = append(rep.Objects, o.HostObject)
	}
	return rep
}

// removeOrphan removes one orphan under its VM's lock. A start holds that
// lock until the VM is live, so a booting VM's objects are never taken for
// leftovers: the orphan test is repeated under the lock. Several objects
// can share one removal (a VM's nft rules go together); seen remembers.
func (s *Service) removeOrphan(o hostObject, orphan func(hostObject) bool, seen map[string]bool) (removed bool, errText string) {
	unlock := s.locks.Lock(o.Owner)
	defer unlock()
	if !orphan(o) {
		return false, ""
	}
	key := o.Kind + "\x00" + o.Owner
	if o.Kind == "nft-rule" && seen[key] {
		return true, ""
	}
	seen[key] = true
	if err := o.remove(); err != nil {
		return false, err.Error()
	}
	return true, ""
}

// Inventory lists every host object this daemon's VMs own.
func (s *Service) Inventory(ctx context.Context) []HostObject {
	objs := []HostObject{}
	for _, o := range s.inventory(ctx) {
		objs = append(objs, o.HostObject)
	}
	return objs
}

// GC removes (unless dryRun) the host objects no VM explains, and says
// which. Removing needs root.
func (s *Service) GC(ctx context.Context, dryRun bool) (GCReport, error) {
	if !dryRun && os.Geteuid() != 0 {
		return GCReport{}, fmt.Errorf("%w: gc needs the daemon to run as root", errdefs.ErrUnsupported)
	}
	return s.sweep(ctx, dryRun), nil
}

// HostObject is one host object a VM owns, or one that gc found orphaned.
type HostObject struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Owner   string `json:"owner,omitempty"`
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// GCReport is what gc found, and whether it removed it.
type GCReport struct {
	DryRun  bool         `json:"dry_run"`
	Objects []HostObject `json:"objects"`
}
