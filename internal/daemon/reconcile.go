package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
)

// reconcile makes the records and the host agree after a daemon start:
// VMs whose VMM still runs (same pid, start time and boot) are adopted;
// everything held by VMs that are gone is released and their state
// recorded; host objects no record explains are swept and reported.
func (d *Daemon) reconcile(ctx context.Context) {
	vms, err := store.ListAll[api.VM](d.store, store.VMs)
	if err != nil {
		d.log.Error("reconcile: list vms", "error", err)
		return
	}
	for _, vm := range vms {
		if d.hasRuntime(vm) {
			d.reconcileVM(ctx, vm)
		}
	}
	rep := d.sweep(ctx, false)
	for _, o := range rep.Objects {
		d.log.Warn("reconcile: removed a host object no VM explains", "kind", o.Kind, "name", o.Name, "owner", o.Owner, "removed", o.Removed, "error", o.Error)
	}
}

// hasRuntime reports whether a VM may hold runtime resources: it is
// recorded as running, its mirrored handles list some, or its runtime
// directory exists.
func (d *Daemon) hasRuntime(vm api.VM) bool {
	if vm.State == api.VMRunning {
		return true
	}
	for _, r := range handlesOf(vm.Runtime).Resources {
		if r.Scope == handles.Runtime {
			return true
		}
	}
	_, err := os.Stat(d.layout.VMRuntime(vm.ID))
	return err == nil
}

func (d *Daemon) reconcileVM(ctx context.Context, vm api.VM) {
	rec, err := d.recorder(vm)
	if err != nil {
		d.log.Error("reconcile: open handles", "vm", vm.ID, "error", err)
		return
	}
	if vm.State == api.VMRunning {
		if lv := d.adopt(ctx, vm, rec); lv != nil {
			d.live.put(lv)
			go d.watch(lv, vm) //nolint:gosec // the watcher outlives this call by design: it lives as long as the VM
			d.log.Info("reconcile: adopted a running VM", "vm", vm.ID, "name", vm.Name, "pid", lv.machine.Handles().Process.PID)
			return
		}
	}
	relErr := d.releaseRuntime(ctx, vm.ID, rec, nil)
	if vm.State != api.VMRunning && relErr == nil {
		return
	}
	tail := consoleTail(d.consoleLog(vm.ID), 20)
	code, haveCode := exitFromConsole(tail)
	_, err = d.updateVM(vm.ID, func(v *api.VM) {
		v.Runtime = keepPersistent(v.Runtime)
		v.Stopped = time.Now().UTC()
		switch {
		case relErr != nil:
			v.State, v.ErrorPhase, v.Error, v.ConsoleTail = api.VMError, "reconcile", relErr.Error(), tail
		case haveCode:
			v.State, v.ExitCode = api.VMStopped, &code
		default:
			v.State, v.ErrorPhase, v.Error, v.ConsoleTail = api.VMError, "reconcile", "the VMM exited while the daemon was down", tail
		}
	})
	if err != nil {
		d.log.Error("reconcile: record", "vm", vm.ID, "error", err)
	}
	d.log.Info("reconcile: released a VM whose VMM is gone", "vm", vm.ID, "name", vm.Name, "release_error", relErr)
}

// adopt re-attaches to a VM's VMM when its recorded process is alive.
func (d *Daemon) adopt(ctx context.Context, vm api.VM, rec *handles.Recorder) *liveVM {
	res := rec.Snapshot().Find(handles.VMM)
	if len(res) == 0 || len(res[0].Data) == 0 {
		return nil
	}
	var h vmm.Handles
	if err := json.Unmarshal(res[0].Data, &h); err != nil || !h.Process.Alive() {
		return nil
	}
	b, ok := d.backends.byName[h.Backend]
	if !ok {
		d.log.Error("reconcile: unknown backend in handles", "vm", vm.ID, "backend", h.Backend)
		return nil
	}
	m, err := b.Attach(ctx, h)
	if err != nil {
		d.log.Warn("reconcile: cannot adopt the VMM", "vm", vm.ID, "error", err)
		return nil
	}
	key, err := loadAgentHostKey(d.layout.VM(vm.ID))
	if err != nil {
		d.log.Error("reconcile: agent host key", "vm", vm.ID, "error", err)
		return nil
	}
	return &liveVM{id: vm.ID, machine: m, backend: h.Backend, rec: rec, hostKey: key.PublicKey(), signer: d.keys.client, done: make(chan struct{}), settled: make(chan struct{})}
}

// hostObject is one host object banger owns, found by its marker.
type hostObject struct {
	api.HostObject
	// persistent objects (leases, VM directories) belong to a VM until it
	// is removed; the others only while it runs.
	persistent bool
	remove     func() error
}

// inventory finds every host object this daemon owns — VMM processes,
// runtime and VM directories, taps, nft rules, leases — by
// the markers they carry (DESIGN.md, "Ownership markers"). Reconcile, gc,
// doctor and the tests' leak checks all use it. Only objects this daemon
// can prove are its own are listed: other daemons (another --root, tests)
// run VMMs and taps on the same host.
func (d *Daemon) inventory(ctx context.Context) []hostObject {
	known := map[string]bool{}
	vms, _ := store.ListAll[api.VM](d.store, store.VMs)
	for _, vm := range vms {
		known[vm.ID] = true
	}
	var out []hostObject
	add := func(kind, name, owner string, persistent bool, remove func() error) {
		out = append(out, hostObject{HostObject: api.HostObject{Kind: kind, Name: name, Owner: owner}, persistent: persistent, remove: remove})
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
	if entries, err := os.ReadDir(d.layout.VMRuntimes()); err == nil {
		for _, e := range entries {
			id := e.Name()
			add("runtime-dir", filepath.Join(d.layout.VMRuntimes(), id), id, false, func() error { return d.removeRuntimeDir(id) })
		}
	}
	if entries, err := os.ReadDir(d.layout.VMs()); err == nil {
		for _, e := range entries {
			if id := e.Name(); isHex(id) {
				add("vm-dir", d.layout.VM(id), id, true, func() error { return os.RemoveAll(d.layout.VM(id)) })
			}
		}
	}
	if d.net != nil {
		if inv, err := d.net.Inventory(ctx); err == nil {
			for _, t := range inv.Taps {
				owner := t.VMID
				if owner == "" {
					// No lease names it: the tap's name does ("bg-" + the
					// VM id, whole, since ids are 12 characters).
					owner = strings.TrimPrefix(t.Name, "bg-")
				}
				if t.Bridge != d.cfg.Network.Bridge && !known[owner] {
					continue // another daemon's
				}
				add("tap", t.Name, owner, false, func() error { return d.net.Remove(ctx, hostnet.Owned{Taps: []hostnet.TapInfo{t}}) })
			}
			if inv.Table != nil {
				for _, r := range inv.Table.Rules {
					if r.VMID != "" {
						add("nft-rule", r.Comment, r.VMID, false, func() error { return d.net.Detach(ctx, r.VMID) })
					}
				}
			}
			for _, l := range inv.Leases {
				add("lease", l.IP.String(), l.VMID, true, func() error { return d.net.Release(ctx, l.VMID) })
			}
		}
	}
	return out
}

// sweep removes (unless dryRun) the owned objects no VM explains: runtime
// objects of VMs that are not running, persistent objects of VMs that no
// longer exist.
func (d *Daemon) sweep(ctx context.Context, dryRun bool) api.GCReport {
	known := map[string]bool{}
	vms, _ := store.ListAll[api.VM](d.store, store.VMs)
	for _, vm := range vms {
		known[vm.ID] = true
	}
	rep := api.GCReport{DryRun: dryRun, Objects: []api.HostObject{}}
	seen := map[string]bool{}
	orphan := func(o hostObject) bool {
		return (o.persistent && !known[o.Owner]) || (!o.persistent && d.live.any(o.Owner) == nil)
	}
	for _, o := range d.inventory(ctx) {
		if !orphan(o) {
			continue
		}
		if !dryRun {
			o.Removed, o.Error = d.removeOrphan(o, orphan, seen)
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
func (d *Daemon) removeOrphan(o hostObject, orphan func(hostObject) bool, seen map[string]bool) (removed bool, errText string) {
	unlock := d.vmLocks.lock(o.Owner)
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

func (d *Daemon) inventoryHandler(r *http.Request) (any, error) {
	objs := []api.HostObject{}
	for _, o := range d.inventory(r.Context()) {
		objs = append(objs, o.HostObject)
	}
	return objs, nil
}

func (d *Daemon) gcHandler(r *http.Request) (any, error) {
	dry := r.URL.Query().Get("dry_run") == "1"
	if !dry && os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: gc needs the daemon to run as root", errdefs.ErrUnsupported)
	}
	return d.sweep(r.Context(), dry), nil
}
