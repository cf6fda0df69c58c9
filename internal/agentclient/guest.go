package agentclient

import (
	"context"
	"fmt"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Memory asks the agent for the guest's memory (its /proc/meminfo). An
// agent older than the request wraps ErrOldAgent.
func (c *Client) Memory(ctx context.Context) (proto.MemoryPayload, error) {
	var m proto.MemoryPayload
	return m, c.query(ctx, proto.RequestMemory, "memory", &m)
}

// Processes asks the agent for the guest's processes (read from its
// /proc). An agent older than the request wraps ErrOldAgent.
func (c *Client) Processes(ctx context.Context) ([]proto.Process, error) {
	var p proto.ProcessesPayload
	err := c.query(ctx, proto.RequestProcesses, "processes", &p)
	return p.Processes, err
}

// query sends a request without payload and decodes its reply into v.
func (c *Client) query(ctx context.Context, request, what string, v any) error {
	ok, resp, err := c.request(ctx, request, nil)
	switch {
	case err != nil:
		return fmt.Errorf("agentclient: %s: %w", what, err)
	case !ok && len(resp) == 0:
		return fmt.Errorf("agentclient: %s: %w: the VM's guest agent is older than this banger; pull or import its image again", what, ErrOldAgent)
	case !ok:
		return fmt.Errorf("agentclient: %s: the guest failed: %s: %w", what, resp, errdefs.ErrUnavailable)
	}
	if err := proto.Unmarshal(resp, v); err != nil {
		return fmt.Errorf("agentclient: %s: bad answer: %w", what, err)
	}
	return nil
}
