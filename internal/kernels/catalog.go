package kernels

import (
	"fmt"
	"os"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// List returns every kernel, each with its effective default flag.
func (s *Service) List() ([]kernelcat.Kernel, error) {
	ks, err := store.ListAll[kernelcat.Kernel](s.store, store.Kernels)
	if err != nil {
		return nil, fmt.Errorf("list kernels: %w", err)
	}
	markDefault(ks, s.effectiveDefault(ks))
	return ks, nil
}

// Get returns one kernel with its effective default flag.
func (s *Service) Get(name string) (kernelcat.Kernel, error) {
	ks, err := s.List()
	if err != nil {
		return kernelcat.Kernel{}, err
	}
	for _, k := range ks {
		if k.Name == name {
			return k, nil
		}
	}
	return kernelcat.Kernel{}, fmt.Errorf("kernel %q: %w (see `banger kernel ls`)", name, errdefs.ErrNotFound)
}

// effectiveDefault is the config's kernel.default, else the record marked
// default, else "".
func (s *Service) effectiveDefault(ks []kernelcat.Kernel) string {
	if s.def != "" {
		return s.def
	}
	for _, k := range ks {
		if k.Default {
			return k.Name
		}
	}
	return ""
}

func markDefault(ks []kernelcat.Kernel, def string) {
	for i := range ks {
		ks[i].Default = ks[i].Name == def
	}
}

// Remove deletes a kernel no VM boots: the record first, so no state ever
// points at a missing directory.
func (s *Service) Remove(name string) error {
	if err := kernelcat.ValidName(name); err != nil {
		return err
	}
	err := s.store.Update(func(tx *store.Tx) error {
		ks, err := store.List[kernelcat.Kernel](tx, store.Kernels)
		if err != nil {
			return err
		}
		markDefault(ks, s.effectiveDefault(ks))
		for _, k := range ks {
			if k.Name != name {
				continue
			}
			if vm := s.inUse(tx, k); vm != "" {
				return fmt.Errorf("%w: kernel %q is used by VM %s: remove the VM first (banger rm %s)", errdefs.ErrConflict, name, vm, vm)
			}
			return tx.Delete(store.Kernels, name)
		}
		return fmt.Errorf("kernel %q: %w (see `banger kernel ls`)", name, errdefs.ErrNotFound)
	})
	if err != nil {
		return err
	}
	if err := os.RemoveAll(s.layout.Kernel(name)); err != nil { //nolint:gosec // name passed ValidName and was a record's key
		s.log.Warn("kernel record removed but not its files", "kernel", name, "error", err)
	}
	s.log.Info("kernel removed", "name", name)
	s.emit(events.Remove, name, "")
	return nil
}

// Resolve returns the kernel a VM boots: name, or the default when name
// is empty. When the guest agent differs from the one in the kernel's
// initramfs, the initramfs is rebuilt and the record updated first, so a
// VM start only reads the result.
func (s *Service) Resolve(name string) (kernelcat.Kernel, error) {
	var k kernelcat.Kernel
	var err error
	if name != "" {
		k, err = s.Get(name)
	} else {
		k, err = s.defaultKernel()
	}
	if err != nil {
		return k, err
	}
	agent := s.agentPath()
	if agent == "" {
		return k, nil
	}
	changed, err := kernelcat.EnsureInitrd(&k, agent)
	if err != nil || !changed {
		return k, err
	}
	stored := k
	stored.Default = false // the flag on the record is the recorded default, not the effective one
	err = s.store.Update(func(tx *store.Tx) error {
		var cur kernelcat.Kernel
		if err := tx.Get(store.Kernels, k.Name, &cur); err != nil {
			return err
		}
		stored.Default = cur.Default
		return tx.Put(store.Kernels, k.Name, stored)
	})
	if err != nil {
		return k, fmt.Errorf("kernel %s: record the rebuilt initramfs: %w", k.Name, err)
	}
	s.log.Info("kernel initramfs rebuilt for a new guest agent", "name", k.Name, "agent_sha256", k.AgentSHA256)
	return k, nil
}

func (s *Service) defaultKernel() (kernelcat.Kernel, error) {
	ks, err := s.List()
	if err != nil {
		return kernelcat.Kernel{}, err
	}
	for _, k := range ks {
		if k.Default {
			return k, nil
		}
	}
	if s.def != "" {
		return kernelcat.Kernel{}, fmt.Errorf("kernel %q (kernel.default in the config): %w: import or pull it, or change the config", s.def, errdefs.ErrNotFound)
	}
	return kernelcat.Kernel{}, fmt.Errorf("%w: no default kernel: run `banger kernel pull debian-cloud`, or `banger kernel import --default PATH`", errdefs.ErrNotFound)
}

// emit reports action on the kernel name.
func (s *Service) emit(action events.Action, name, version string) {
	s.events.Publish(events.Event{Type: events.TypeKernel, Action: action, ID: name, Name: name,
		Attributes: map[string]string{"version": version}})
}
