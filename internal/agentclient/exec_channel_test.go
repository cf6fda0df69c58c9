package agentclient_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// oldAgent is an agent from before proto.ChannelExec: it rejects the
// channel type and runs RequestExec on a session, exiting 7. It counts
// the exec channels it was asked for.
func oldAgent(t *testing.T, hostKey agentclient.Key, asked *atomic.Int32) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aold") //nolint:usetesting // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s")
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(hostKey.Signer)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, chans, reqs, err := ssh.NewServerConn(c, cfg)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		for nc := range chans {
			if nc.ChannelType() != "session" {
				asked.Add(1)
				_ = nc.Reject(ssh.UnknownChannelType, "unknown channel type")
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
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
		}
	}()
	return sock
}

// An agent without the exec channel still runs execs, through a session,
// and the client asks it for the channel once per connection.
func TestExecFallsBackForAnAgentWithoutTheExecChannel(t *testing.T) {
	hostKey, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := newKey(t)
	var asked atomic.Int32
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("unix", oldAgent(t, hostKey, &asked))
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialWith(t, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: clientKey.Signer})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
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
