package agentclient

import (
	"context"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// MakeContainer makes the root of container id in a pod VM: an overlay,
// writable in the guest's memory, over lower, the guest path of the
// container image's tree (read-only; a directory of a share from the
// host), with the guest's /proc, /sys, /dev and its resolv.conf, hosts
// and hostname. An exec with ExecRequest.Container = id then runs in it.
func (c *Client) MakeContainer(ctx context.Context, id, lower string) error {
	return c.container(ctx, proto.ContainerPayload{ID: id, Lower: lower}, "make container "+id)
}

// RemoveContainer unmounts and removes container id's root (its
// processes should have ended: one still running keeps its view until it
// does). An absent container is not an error.
func (c *Client) RemoveContainer(ctx context.Context, id string) error {
	return c.container(ctx, proto.ContainerPayload{ID: id, Remove: true}, "remove container "+id)
}

func (c *Client) container(ctx context.Context, p proto.ContainerPayload, what string) error {
	return c.call(ctx, proto.RequestContainer, proto.Marshal(p), what,
		"the guest agent runs no containers (an agent older than this banger, or one that is not PID 1)")
}
