package vms

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// bootSlotStage waits for one of the host's boot slots (vm.parallel_boots)
// before the VMM starts, so VMs started together boot in turn instead of
// all at once: under software emulation each booting guest keeps a CPU
// busy, and twenty sharing two CPUs all missed their boot timeout. The
// slot is given back once the agent answered (Start) or the start failed
// (Release). The wait shows as this stage's timing and is not counted in
// the boot timeout, which the agent stage starts after it.
type bootSlotStage struct{ slots chan struct{} }

func (bootSlotStage) Name() string { return "queue" }

func (st bootSlotStage) Acquire(ctx context.Context, rt *Runtime) error {
	select {
	case st.slots <- struct{}{}:
		rt.slot = &bootSlot{slots: st.slots}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait for one of the %d boot slots (vm.parallel_boots): %w", cap(st.slots), ctx.Err())
	}
}

// Release gives the slot back when the start failed before the agent
// answered; it holds nothing otherwise.
func (bootSlotStage) Release(_ context.Context, rt *Runtime) error {
	rt.slot.free()
	return nil
}

// bootSlot is a held slot; free gives it back once.
type bootSlot struct {
	slots chan struct{}
	once  sync.Once
}

func (b *bootSlot) free() {
	if b != nil {
		b.once.Do(func() { <-b.slots })
	}
}

// bootSlots makes the service's slots: n, or the host's CPUs for 0.
func bootSlots(n int) chan struct{} {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	return make(chan struct{}, n)
}
