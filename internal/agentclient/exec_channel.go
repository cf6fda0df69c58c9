package agentclient

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// errNoExecChannel is an agent older than proto.ChannelExec: it rejected
// the channel type, so the command did not run.
var errNoExecChannel = errors.New("agentclient: the agent has no exec channel")

// openExec opens a proto.ChannelExec: the channel's open carries the
// exec, and its confirmation says the agent started it.
func (c *Client) openExec(ctx context.Context, payload []byte, r ExecRequest, trace func(string)) (*Process, error) {
	ch, reqs, err := c.client.OpenChannel(proto.ChannelExec, payload)
	var oce *ssh.OpenChannelError
	switch {
	case errors.As(err, &oce) && oce.Reason == ssh.UnknownChannelType:
		return nil, errNoExecChannel
	case errors.As(err, &oce):
		return nil, fmt.Errorf("agentclient: %s refused: %s", proto.RequestExec, oce.Message)
	case err != nil:
		// The open carried the command.
		return nil, execUnanswered(err)
	}
	trace("open")
	trace("start")
	return newProcess(ctx, ch, reqs).run(ctx, proto.RequestExec, r), nil
}
