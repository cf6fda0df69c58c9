package agentclient_test

import (
	"encoding/binary"
	"errors"
	"net"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// An agent from before proto.ChannelExec (it rejects the channel type and
// runs RequestExec on a session) still runs execs, and the client asks it
// for the channel once per connection.
func TestExecFallsBackForAnAgentWithoutTheExecChannel(t *testing.T) {
	var asked atomic.Int32
	c := fakeAgent(t, func(_ net.Conn, nc ssh.NewChannel) {
		if nc.ChannelType() != "session" {
			asked.Add(1)
			_ = nc.Reject(ssh.UnknownChannelType, "unknown channel type")
			return
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			for r := range creqs {
				_ = r.Reply(r.Type == proto.RequestExec, nil)
				if r.Type == proto.RequestExec {
					_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, 7))
					_ = ch.Close()
				}
			}
		}()
	})
	for i := range 3 {
		code, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"true"}})
		if err != nil || code != 7 {
			t.Fatalf("exec %d on an old agent: code %d, %v; want the session's exit status 7", i, code, err)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the client asked for the exec channel %d times, want once", n)
	}
}

// The agent refuses an exec channel whose open carries no argv.
func TestExecChannelRefusesABadRequest(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{Main: &bootcfg.Process{Argv: []string{"sleep", "60"}}, Detached: true})
	c := a.Dial(t)
	for _, payload := range [][]byte{nil, []byte("not json"), proto.Marshal(proto.ExecPayload{})} {
		_, _, err := c.SSH().OpenChannel(proto.ChannelExec, payload)
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
			t.Errorf("exec channel with payload %q: %v, want a Prohibited rejection", payload, err)
		}
	}
}
