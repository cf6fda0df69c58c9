package vms

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/labels"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Get finds a VM by id, name, or unambiguous id prefix (at least 3
// characters), like docker.
func (s *Service) Get(ref string) (VM, error) {
	var found VM
	err := s.Store.View(func(tx *store.Tx) error {
		var err error
		found, err = resolveVMTx(tx, ref)
		return err
	})
	return found, err
}

func resolveVMTx(tx *store.Tx, ref string) (VM, error) {
	var vm VM
	if err := tx.Get(store.VMs, ref, &vm); err == nil {
		return vm, nil
	}
	vms, err := store.List[VM](tx, store.VMs)
	if err != nil {
		return vm, err
	}
	var byPrefix []VM
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

// update applies fn to the stored record in one transaction and returns
// the result.
func (s *Service) update(id string, fn func(*VM)) (VM, error) {
	var vm VM
	err := s.Store.Update(func(tx *store.Tx) error {
		if err := tx.Get(store.VMs, id, &vm); err != nil {
			return err
		}
		fn(&vm)
		return tx.Put(store.VMs, id, vm)
	})
	return vm, err
}

// List returns the running and restarting VMs (docker's ps), or all with
// all, newest first; labels (KEY or KEY=VALUE) keep the VMs that have
// every one.
func (s *Service) List(all bool, filter ...string) ([]VM, error) {
	if err := labels.Check(filter); err != nil {
		return nil, err
	}
	vms, err := store.ListAll[VM](s.Store, store.VMs)
	if err != nil {
		return nil, err
	}
	out := []VM{}
	for _, vm := range vms {
		if (all || vm.State.Live() || vm.State == Restarting) && labels.Match(vm.Spec.Labels, filter) {
			out = append(out, vm)
		}
	}
	slices.SortFunc(out, func(a, b VM) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// Create validates spec against the catalog and stores a VM in the
// created state, named name (or a random docker-style name). Nothing is
// allocated on the host until Start.
func (s *Service) Create(ctx context.Context, name string, spec Spec) (VM, error) {
	spec, err := s.completeSpec(spec)
	if err != nil {
		return VM{}, err
	}
	asked := spec // before the kernel is pinned: what Put compares
	img, err := s.Catalog.Image(spec.Image)
	if err != nil {
		return VM{}, err
	}
	if spec.PublishAll {
		spec.Ports = publishAll(spec.Ports, img.Config.ExposedPorts)
	}
	// The kernel is pinned at create, so a later change of the default
	// does not change what an existing VM boots.
	k, err := s.Catalog.Kernel(spec.Kernel)
	if err != nil {
		return VM{}, err
	}
	spec.Kernel = k.Name
	if err := s.checkMounts(ctx, spec, k); err != nil {
		return VM{}, err
	}
	if name != "" {
		if err := checkVMName(name); err != nil {
			return VM{}, err
		}
	}
	vm := VM{ID: newVMID(), Name: name, State: Created, Spec: spec, ImageID: img.ID, Created: s.now(), Request: &asked}
	err = s.Store.Update(func(tx *store.Tx) error {
		vms, err := store.List[VM](tx, store.VMs)
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
		return VM{}, err
	}
	cpCreateRecorded.Hit()
	s.emit(events.Create, vm)
	s.Log.Info("vm created", "vm", vm.ID, "name", vm.Name, "image", spec.Image)
	return vm, nil
}

// completeSpec fills defaults from the config and validates what a start
// would otherwise trip over.
func (s *Service) completeSpec(sp Spec) (Spec, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{errdefs.ErrInvalid}, args...)...))
	}
	if sp.Image == "" {
		bad("no image given")
	}
	if sp.CPUs == 0 {
		sp.CPUs = s.VM.CPUs
	}
	if sp.MemoryMiB == 0 {
		sp.MemoryMiB = int(int64(s.VM.Memory) / units.MiB)
	}
	if sp.VMM == "" {
		sp.VMM = s.VM.VMM
	}
	if sp.DiskBytes == 0 {
		sp.DiskBytes = int64(s.VM.Disk)
	}
	if err := sp.Restart.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%w: --restart: %w", errdefs.ErrInvalid, err))
	}
	if sp.AutoRemove && !sp.Restart.IsNone() {
		bad("--restart %s and --rm conflict: a VM removed when it exits cannot be restarted", sp.Restart)
	}
	if sp.Hostname != "" && !bootcfg.ValidHostname(sp.Hostname) {
		bad("hostname %q: want an RFC 1123 host name of at most 64 bytes", sp.Hostname)
	}
	if sp.CPUs < 1 || sp.CPUs > 255 {
		bad("cpus %d: want 1..255", sp.CPUs)
	}
	if sp.MemoryMiB < 64 {
		bad("memory %dMiB: want at least 64MiB", sp.MemoryMiB)
	}
	if sp.DiskBytes < 0 {
		bad("disk size must not be negative")
	}
	if err := vmm.CheckChoice(sp.VMM); err != nil {
		errs = append(errs, err)
	}
	if _, ok, err := hostnet.ParseNetns(sp.Network); ok {
		if err != nil {
			errs = append(errs, err)
		}
		if len(sp.Ports) > 0 || sp.PublishAll {
			errs = append(errs, hostnet.NetnsPortsError(sp.Network))
		}
	}
	if sp.Network == NetworkBridge {
		sp.Network = NetworkDefault
	}
	if name, err := s.checkUserNetwork(sp); err != nil {
		errs = append(errs, err)
	} else {
		sp.Network = name
	}
	for _, t := range sp.Tmpfs {
		p, opts, _ := strings.Cut(t, ":")
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" {
			bad("--tmpfs %q: want an absolute path other than /, then optional :OPTIONS", t)
		}
		if strings.ContainsAny(opts, " \n\x00") {
			bad("--tmpfs %q: mount options contain a space or control character", t)
		}
	}
	errs = append(errs, checkDNS(sp.DNS, sp.Network))
	for _, e := range sp.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			bad("env %q: want KEY=VALUE", e)
		}
	}
	if err := volumes.Check(sp.Mounts); err != nil {
		errs = append(errs, err)
	}
	if err := sp.Stdio.Check(s.Layout.Roots()...); err != nil {
		errs = append(errs, err)
	}
	return sp, errors.Join(errs...)
}
