package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/units"
)

// vmLocks serializes lifecycle operations per VM: a start, a stop and a
// remove of the same VM never interleave; different VMs never wait on
// each other.
type vmLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (l *vmLocks) lock(id string) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m, ok := l.locks[id]
	if !ok {
		m = &sync.Mutex{}
		l.locks[id] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (d *Daemon) vmRoutes(rt *api.Router) {
	rt.JSON(api.CreateVM, d.createVMHandler)
	rt.JSON(api.ListVMs, d.listVMs)
	rt.JSON(api.GetVM, func(r *http.Request) (any, error) { return d.resolveVM(r.PathValue("ref")) })
	rt.Stream(api.StartVM, d.startVMHandler)
	rt.JSON(api.StopVM, d.stopVMHandler)
	rt.JSON(api.KillVM, d.killVMHandler)
	rt.JSON(api.WaitVM, d.waitVMHandler)
	rt.JSON(api.RemoveVM, d.removeVMHandler)
	rt.Raw(api.VMLogs, d.logsHandler)
	rt.Raw(api.VMSSH, d.sshHandler)
	rt.JSON(api.Doctor, d.doctorHandler)
	rt.JSON(api.GC, d.gcHandler)
	rt.JSON(api.Inventory, d.inventoryHandler)
	rt.JSON(api.TeardownNetwork, d.networkTeardownHandler)
}

// resolveVM finds a VM by id, name, or unambiguous id prefix (at least 3
// characters), like docker.
func (d *Daemon) resolveVM(ref string) (api.VM, error) {
	var found api.VM
	err := d.store.View(func(tx *store.Tx) error {
		var err error
		found, err = resolveVMTx(tx, ref)
		return err
	})
	return found, err
}

func resolveVMTx(tx *store.Tx, ref string) (api.VM, error) {
	var vm api.VM
	if err := tx.Get(store.VMs, ref, &vm); err == nil {
		return vm, nil
	}
	vms, err := store.List[api.VM](tx, store.VMs)
	if err != nil {
		return vm, err
	}
	var byPrefix []api.VM
	for _, v := range vms {
		if v.Name == ref {
			return v, nil
		}
		if len(ref) >= 3 && strings.HasPrefix(v.ID, ref) {
			byPrefix = append(byPrefix, v)
		}
	}
	switch len(byPrefix) {
	case 1:
		return byPrefix[0], nil
	case 0:
		return vm, fmt.Errorf("vm %q: %w (see `banger ps -a`)", ref, errdefs.ErrNotFound)
	default:
		return vm, fmt.Errorf("%w: vm id prefix %q matches %d VMs; give more of the id", errdefs.ErrInvalid, ref, len(byPrefix))
	}
}

// saveVM writes a VM record.
func (d *Daemon) saveVM(vm api.VM) error {
	return d.store.Put(store.VMs, vm.ID, vm)
}

// updateVM applies fn to the stored record in one transaction and returns
// the result.
func (d *Daemon) updateVM(id string, fn func(*api.VM)) (api.VM, error) {
	var vm api.VM
	err := d.store.Update(func(tx *store.Tx) error {
		if err := tx.Get(store.VMs, id, &vm); err != nil {
			return err
		}
		fn(&vm)
		return tx.Put(store.VMs, id, vm)
	})
	return vm, err
}

func (d *Daemon) listVMs(r *http.Request) (any, error) {
	all := r.URL.Query().Get("all") == "1"
	vms, err := store.ListAll[api.VM](d.store, store.VMs)
	if err != nil {
		return nil, err
	}
	out := []api.VM{}
	for _, vm := range vms {
		if all || vm.State == api.VMRunning {
			out = append(out, vm)
		}
	}
	slices.SortFunc(out, func(a, b api.VM) int { return b.Created.Compare(a.Created) })
	return out, nil
}

func (d *Daemon) createVMHandler(r *http.Request) (any, error) {
	var req api.CreateVMRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	return d.createVM(r.Context(), req)
}

// createVM validates the spec against the catalog and stores a VM in the
// created state. Nothing is allocated on the host until start.
func (d *Daemon) createVM(_ context.Context, req api.CreateVMRequest) (api.VM, error) {
	spec, err := d.completeSpec(req.Spec)
	if err != nil {
		return api.VM{}, err
	}
	img, err := d.findImage(spec.Image)
	if err != nil {
		return api.VM{}, err
	}
	// The kernel is pinned at create, so a later change of the default
	// does not change what an existing VM boots.
	k, err := d.ResolveKernel(spec.Kernel)
	if err != nil {
		return api.VM{}, err
	}
	spec.Kernel = k.Name
	if req.Name != "" {
		if err := checkVMName(req.Name); err != nil {
			return api.VM{}, err
		}
	}
	vm := api.VM{
		ID:      newVMID(),
		Name:    req.Name,
		State:   api.VMCreated,
		Spec:    spec,
		ImageID: img.ID,
		Created: time.Now().UTC(),
	}
	err = d.store.Update(func(tx *store.Tx) error {
		vms, err := store.List[api.VM](tx, store.VMs)
		if err != nil {
			return err
		}
		taken := map[string]bool{}
		for _, v := range vms {
			taken[v.Name] = true
		}
		if vm.Name == "" {
			for vm.Name = randomVMName(); taken[vm.Name]; vm.Name = randomVMName() + "_" + newVMID()[:4] {
			}
		} else if taken[vm.Name] {
			return fmt.Errorf("vm name %q: %w; remove it with `banger rm %s` or pick another --name", vm.Name, errdefs.ErrExists, vm.Name)
		}
		return tx.Create(store.VMs, vm.ID, vm)
	})
	if err != nil {
		return api.VM{}, err
	}
	d.log.Info("vm created", "vm", vm.ID, "name", vm.Name, "image", spec.Image)
	return vm, nil
}

// completeSpec fills defaults from the config and validates what a start
// would otherwise trip over.
func (d *Daemon) completeSpec(s api.VMSpec) (api.VMSpec, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{errdefs.ErrInvalid}, args...)...))
	}
	if s.Image == "" {
		bad("no image given")
	}
	if s.CPUs == 0 {
		s.CPUs = d.cfg.VM.CPUs
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = int(int64(d.cfg.VM.Memory) / units.MiB)
	}
	if s.VMM == "" {
		s.VMM = d.cfg.VM.VMM
	}
	if s.CPUs < 1 || s.CPUs > 255 {
		bad("cpus %d: want 1..255", s.CPUs)
	}
	if s.MemoryMiB < 64 {
		bad("memory %dMiB: want at least 64MiB", s.MemoryMiB)
	}
	if s.DiskBytes < 0 {
		bad("disk size must not be negative")
	}
	if !slices.Contains([]string{"auto", "qemu", "firecracker"}, s.VMM) {
		bad("vmm %q: want auto, qemu or firecracker", s.VMM)
	}
	if s.Network != api.NetworkDefault && s.Network != api.NetworkNone {
		bad("network %q: want none or the default", s.Network)
	}
	for _, e := range s.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			bad("env %q: want KEY=VALUE", e)
		}
	}
	return s, errors.Join(errs...)
}
