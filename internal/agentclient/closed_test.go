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

// closingAgent is an SSH server that accepts a session and closes it on
// its first request without answering, and drops the connection on an
// exec channel's open (or, as an agent older than it, rejects the
// type): an agent whose VM stopped, or a connection that broke, before
// exec's answer.
func closingAgent(t *testing.T, hostKey agentclient.Key, execChannel bool) string {
	t.Helper()
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
			if nc.ChannelType() == proto.ChannelExec && execChannel {
				_ = c.Close()
				continue
			}
			if nc.ChannelType() != "session" {
				_ = nc.Reject(ssh.UnknownChannelType, "no "+nc.ChannelType())
				continue
			}
			ch, creqs, err := nc.Accept()
			if err != nil {
				continue
			}
			go func() {
				<-creqs
				_ = ch.Close()
			}()
		}
	}()
	return sock
}

// An exec whose session closes before the agent answered says the
// command may have run (so nobody retries it blindly), and still wraps
// io.EOF.
func TestExecClosedBeforeTheAnswerMayHaveRun(t *testing.T) {
	hostKey, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := newKey(t)
	sock := closingAgent(t, hostKey, true)
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialWith(t, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: clientKey.Signer})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_, err = c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"true"}})
	if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "the command may have run") {
		t.Fatalf("exec on a connection closed before the answer: %v; want io.EOF and that the command may have run", err)
	}
}

// The same through a session and its exec request, where an agent
// without the exec channel has the client fall back.
func TestExecSessionClosedBeforeTheAnswerMayHaveRun(t *testing.T) {
	hostKey, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	clientKey, _ := newKey(t)
	sock := closingAgent(t, hostKey, false)
	conn, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialWith(t, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: clientKey.Signer})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_, err = c.Exec(ctxT(t), agentclient.ExecRequest{Argv: []string{"true"}})
	if !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "the command may have run") {
		t.Fatalf("exec on a session closed before the answer: %v; want io.EOF and that the command may have run", err)
	}
}
