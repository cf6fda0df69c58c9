package vmm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// The backends' names, as a VM's vmm choice, the config's vm.vmm and
// recorded handles spell them.
const (
	Auto        = "auto"
	Firecracker = "firecracker"
	QEMU        = "qemu"
)

// Choices are the valid vmm choices, auto first.
func Choices() []string { return []string{Auto, Firecracker, QEMU} }

// CheckChoice validates a vmm choice (config vm.vmm, run --vmm).
func CheckChoice(choice string) error {
	if choice == "" || slices.Contains(Choices(), choice) {
		return nil
	}
	return fmt.Errorf("%w: vmm %q: want %s", errdefs.ErrInvalid, choice, strings.Join(Choices(), ", "))
}

// Set is a daemon's backends, in auto's order of preference, with their
// probes. It is the one place a probe's result is cached: a probe can boot
// a tiny guest (QEMU's KVM check), so it runs once per backend per daemon.
type Set struct {
	order  []Backend
	mu     sync.Mutex
	probes map[string]Probe
}

// NewSet returns a Set of backends; auto prefers them in this order.
func NewSet(backends ...Backend) *Set {
	return &Set{order: backends, probes: map[string]Probe{}}
}

// Backends returns the backends in order of preference.
func (s *Set) Backends() []Backend { return slices.Clone(s.order) }

// Get returns the backend of that name.
func (s *Set) Get(name string) (Backend, bool) {
	for _, b := range s.order {
		if b.Name() == name {
			return b, true
		}
	}
	return nil, false
}

// Probe returns the cached probe of b, probing on first use. An
// interrupted probe is not an answer and is not cached.
func (s *Set) Probe(ctx context.Context, b Backend) Probe {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.probes[b.Name()]; ok {
		return p
	}
	p := b.Probe(ctx)
	if ctx.Err() == nil {
		s.probes[b.Name()] = p
	}
	return p
}

// ProbeAll probes every backend (a daemon does it at start, so the first
// VM start does not pay for it).
func (s *Set) ProbeAll(ctx context.Context) {
	for _, b := range s.order {
		s.Probe(ctx, b)
	}
}

// Pick resolves a vmm choice: auto (or "") takes the first backend that
// can run here; a name takes that backend if it can. The error says why
// none could, and points at `banger doctor`.
func (s *Set) Pick(ctx context.Context, choice string) (Backend, Probe, error) {
	if choice == "" || choice == Auto {
		var why []string
		for _, b := range s.order {
			p := s.Probe(ctx, b)
			if p.Available {
				return b, p, nil
			}
			why = append(why, b.Name()+": "+strings.Join(p.Notes, "; "))
		}
		return nil, Probe{}, fmt.Errorf("%w: no VMM can run here (%s); see `banger doctor`", errdefs.ErrUnavailable, strings.Join(why, " | "))
	}
	b, ok := s.Get(choice)
	if !ok {
		if err := CheckChoice(choice); err != nil {
			return nil, Probe{}, err
		}
		return nil, Probe{}, fmt.Errorf("%w: vmm %s is not configured in this daemon", errdefs.ErrUnavailable, choice)
	}
	p := s.Probe(ctx, b)
	if !p.Available {
		return nil, p, fmt.Errorf("%w: vmm %s cannot run here: %s; see `banger doctor`", errdefs.ErrUnavailable, choice, strings.Join(p.Notes, "; "))
	}
	return b, p, nil
}
