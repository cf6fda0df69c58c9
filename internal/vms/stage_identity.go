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
	return st.s.giveIdentity(ctx, rt, "apply the VM's config", func(ctx context.Context, c Agent) error {
		return c.Apply(ctx, rt.Hold.full, st.s.now())
	})
}

// giveIdentity sends the agent the VM's own config (send: an apply, a
// re-identify), bounded by the boot timeout, then connects again pinning
// the VM's own host key, which the agent serves from then on.
func (s *Service) giveIdentity(ctx context.Context, rt *Runtime, what string, send func(context.Context, Agent) error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(s.VM.BootTimeout)*time.Second)
	defer cancel()
	c, err := rt.Agent.get(ctx)
	if err != nil {
		return err
	}
	if err := send(ctx, c); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	rt.Agent.repin(rt.HostKey.PublicKey())
	if _, err := rt.Agent.get(ctx); err != nil {
		return fmt.Errorf("the agent took the VM's config, then: %w", err)
	}
	return nil
}

// Release has nothing of its own: the agent stage closes the connection.
func (identityStage) Release(context.Context, *Runtime) error { return nil }
