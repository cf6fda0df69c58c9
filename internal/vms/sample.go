package vms

import (
	"context"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/vmm"
)

// Sampled is what statistics need of a running (or paused) VM: its VMM
// process, its tap and its machine.
type Sampled struct {
	VM  VM
	PID int
	Tap string
	// Netns is the network namespace Tap is in; empty for the host's.
	Netns   string
	Machine vmm.Machine
}

// Sample returns the running VMs refs name (every running VM when refs is
// empty, by name), for statistics. A named VM that is not running is an
// error that says so.
func (s *Service) Sample(_ context.Context, refs []string) ([]Sampled, error) {
	var lvs []*liveVM
	if len(refs) == 0 {
		lvs = s.live.all()
	}
	for _, ref := range refs {
		_, lv, err := s.lookupRunning(ref)
		if err != nil {
			return nil, err
		}
		lvs = append(lvs, lv)
	}
	out := make([]Sampled, 0, len(lvs))
	for _, lv := range lvs {
		vm, err := s.Get(lv.id())
		if err != nil {
			continue // removed meanwhile
		}
		sm := Sampled{VM: vm, Machine: lv.rt.Machine, PID: lv.rt.Machine.Handles().Process.PID, Tap: vm.Runtime.Tap}
		if rec := lv.rt.Record; rec != nil && rec.Netns != nil {
			sm.Netns = rec.Netns.Handles.Path
		}
		out = append(out, sm)
	}
	if len(refs) == 0 {
		slices.SortFunc(out, func(a, b Sampled) int { return strings.Compare(a.VM.Name, b.VM.Name) })
	}
	return out, nil
}
