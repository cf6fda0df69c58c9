package vms

import (
	"context"
	"fmt"
	"time"
)

// identityStage gives a held agent (cold or restored) the VM's own
// config and the host's clock (Agent.Apply): the agent sets the clock,
// reseeds its entropy pool, remounts the root read-write, takes the VM's
// MAC, address, hostname and mounts, switches to the VM's own SSH host
// key and starts the main process. The connection is then made again,
// pinning that key.
type identityStage struct{ s *Service }

func (identityStage) Name() string { return "identity" }

func (identityStage) skip(rt *Runtime) bool { return rt.Hold == nil }

func (st identityStage) Acquire(ctx context.Context, rt *Runtime) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(st.s.VM.BootTimeout)*time.Second)
	defer cancel()
	c, err := rt.Agent.get(ctx)
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, rt.Hold.full, st.s.now()); err != nil {
		return fmt.Errorf("apply the VM's config: %w", err)
	}
	rt.Agent.repin(rt.HostKey.PublicKey())
	if _, err := rt.Agent.get(ctx); err != nil {
		return fmt.Errorf("after the VM's config was applied: %w", err)
	}
	return nil
}

// Release has nothing of its own: the agent stage closes the connection.
func (identityStage) Release(context.Context, *Runtime) error { return nil }
