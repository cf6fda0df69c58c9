package agentclient_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
)

// fakeAgent is an SSH server that hands every channel open of its one
// connection to channel, and a client connected to it.
func fakeAgent(t *testing.T, channel func(c net.Conn, nc ssh.NewChannel)) *agentclient.Client {
	t.Helper()
	hostKey, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "acc") //nolint:usetesting // unix socket paths must be short
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
			channel(c, nc)
		}
	}()
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := newKey(t)
	client, err := dialWith(t, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: clientKey.Signer})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// closingAgent accepts a session and closes it on its first request
// without answering, and drops the connection on an exec channel's open
// (or, as an agent older than it, rejects the type): an agent whose VM
// stopped, or a connection that broke, before exec's answer.
func closingAgent(t *testing.T, execChannel bool) *agentclient.Client {
	return fakeAgent(t, func(c net.Conn, nc ssh.NewChannel) {
		switch {
		case nc.ChannelType() == proto.ChannelExec && execChannel:
			_ = c.Close()
			return
		case nc.ChannelType() != "session":
			_ = nc.Reject(ssh.UnknownChannelType, "no "+nc.ChannelType())
			return
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go func() {
			<-creqs
			_ = ch.Close()
		}()
	})
}

// An exec whose connection or session closes before the agent answered
// says the command may have run (so nobody retries it blindly), and still
// wraps io.EOF: on the exec channel, and on a session where an agent
// without it has the client fall back.
func TestExecClosedBeforeTheAnswerMayHaveRun(t *testing.T) {
	for _, execChannel := range []bool{true, false} {
		c := closingAgent(t, execChannel)
		_, err := c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"true"}})
		if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "the command may have run") {
			t.Fatalf("exec (exec channel %v) closed before the answer: %v; want io.EOF and that the command may have run", execChannel, err)
		}
	}
}
