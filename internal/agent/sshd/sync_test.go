package sshd_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/sshd"
	"github.com/bangerdev/banger/internal/agentclient"
)

// A sync request runs the server's sync and answers once it returned,
// so the client never falls back to running sync(1) in the guest.
func TestSyncRequestRunsTheSync(t *testing.T) {
	hostKey, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	clientKey, err := agentclient.NewClientKey()
	if err != nil {
		t.Fatal(err)
	}
	var synced atomic.Int32
	s, err := sshd.New(sshd.Options{
		Identity: sshd.Identity{HostKey: hostKey.Signer, AuthorizedKeys: []ssh.PublicKey{clientKey.PublicKey()}},
		Sync:     func() { time.Sleep(50 * time.Millisecond); synced.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: clientKey.Signer})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := synced.Load(); n != 1 {
		t.Fatalf("the server synced %d times when Sync returned; want once, before the answer", n)
	}
}
