package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/vmm"
)

// backendSet holds the VMM backends and caches their probes: a probe can
// boot a tiny guest (QEMU's KVM check), so it runs once per daemon.
type backendSet struct {
	byName map[string]vmm.Backend
	// order is auto's preference: Firecracker (with working KVM), then
	// QEMU (KVM, else TCG).
	order []string

	mu     sync.Mutex
	probes map[string]vmm.Probe
}

func newBackendSet(bs ...vmm.Backend) *backendSet {
	s := &backendSet{byName: map[string]vmm.Backend{}, probes: map[string]vmm.Probe{}}
	for _, b := range bs {
		s.byName[b.Name()] = b
		s.order = append(s.order, b.Name())
	}
	return s
}

// probe returns the cached probe of a backend.
func (s *backendSet) probe(ctx context.Context, name string) vmm.Probe {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.probes[name]; ok {
		return p
	}
	p := s.byName[name].Probe(ctx)
	s.probes[name] = p
	return p
}

// pick resolves a VM's vmm choice ("auto", "qemu", "firecracker").
func (s *backendSet) pick(ctx context.Context, choice string) (vmm.Backend, vmm.Probe, error) {
	if choice == "" || choice == "auto" {
		var why []string
		for _, name := range s.order {
			p := s.probe(ctx, name)
			if p.Available {
				return s.byName[name], p, nil
			}
			why = append(why, name+": "+strings.Join(p.Notes, "; "))
		}
		return nil, vmm.Probe{}, fmt.Errorf("%w: no VMM can run here (%s); see `banger doctor`", errdefs.ErrUnavailable, strings.Join(why, " | "))
	}
	b, ok := s.byName[choice]
	if !ok {
		return nil, vmm.Probe{}, fmt.Errorf("%w: vmm %q: want auto, qemu or firecracker", errdefs.ErrInvalid, choice)
	}
	p := s.probe(ctx, choice)
	if !p.Available {
		return nil, p, fmt.Errorf("%w: vmm %s cannot run here: %s; see `banger doctor`", errdefs.ErrUnavailable, choice, strings.Join(p.Notes, "; "))
	}
	return b, p, nil
}

func (d *Daemon) backendFor(ctx context.Context, choice string) (vmm.Backend, vmm.Probe, error) {
	return d.backends.pick(ctx, choice)
}
