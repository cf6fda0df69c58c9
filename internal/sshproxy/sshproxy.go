// Package sshproxy is the daemon's SSH front door to its VMs.
//
// The CLI (and OpenSSH, through `banger ssh-config`'s ProxyCommand) never
// talks to a guest directly: it upgrades an API connection on the daemon's
// socket and speaks SSH to the daemon, which proxies every channel — exec,
// shell, pty, sftp, direct-tcpip — onto the one agent connection it keeps
// per VM. One mechanism gives every client every service the agent has,
// and an exec costs a channel open on a warm connection instead of a guest
// handshake.
//
// Client authentication is "none": whoever can open the daemon's socket is
// already authorized (root or the banger group), exactly as with the rest of
// the API. The daemon's host key identifies the daemon to clients.
package sshproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Upstream is the agent side: a connection on which channels can be
// opened and global requests sent (an *ssh.Client satisfies it).
type Upstream interface {
	OpenChannel(name string, data []byte) (ssh.Channel, <-chan *ssh.Request, error)
	SendRequest(name string, wantReply bool, payload []byte) (bool, []byte, error)
}

// Serve performs the server handshake on conn and proxies the client's
// channels to upstream until the client disconnects or ctx ends. It closes
// conn before returning. tr, when not nil, holds the daemon's steps so far
// (the lookup, the upgrade); Serve adds the handshake and the channels'.
func Serve(ctx context.Context, conn net.Conn, hostKey ssh.Signer, upstream Upstream, tr *Trace) error {
	if tr == nil {
		tr = NewTrace(time.Now())
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(hostKey)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	sconn, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("ssh handshake with client: %w", err)
	}
	tr.Mark("handshake")
	defer func() { _ = sconn.Close() }()
	go forwardGlobal(reqs, upstream, tr)
	var wg sync.WaitGroup
	for nc := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			proxyChannel(nc, upstream, tr)
		}()
	}
	wg.Wait()
	return nil
}

// forwardGlobal passes the client's global requests (the agent's ping,
// info and shutdown requests) to the agent, with the agent's reply, and
// answers RequestTimings itself. Remote port forwarding (tcpip-forward)
// would need channels opened towards the client and is refused.
func forwardGlobal(reqs <-chan *ssh.Request, upstream Upstream, tr *Trace) {
	for r := range reqs {
		switch r.Type {
		case "tcpip-forward", "cancel-tcpip-forward":
			_ = r.Reply(false, nil)
			continue
		case RequestTimings:
			_ = r.Reply(true, tr.JSON())
			continue
		}
		ok, payload, err := upstream.SendRequest(r.Type, r.WantReply, r.Payload)
		if r.WantReply {
			_ = r.Reply(ok && err == nil, payload)
		}
	}
}

// proxyChannel opens the same channel upstream and joins the two: data and
// extended data (stderr) both ways, requests both ways with their replies,
// EOF and close in order. The agent's exit-status is forwarded only after
// all output before it has been delivered, so a client never sees the exit
// before the last bytes. tr gets the agent's answer times: "open", the
// last "reply" to a request, and "exit" from that reply (or the open) to
// the exit status.
func proxyChannel(nc ssh.NewChannel, upstream Upstream, tr *Trace) {
	t0 := time.Now()
	uch, ureqs, err := upstream.OpenChannel(nc.ChannelType(), nc.ExtraData())
	tr.Span("open", t0)
	if err != nil {
		var oce *ssh.OpenChannelError
		if errors.As(err, &oce) {
			_ = nc.Reject(oce.Reason, oce.Message)
		} else {
			_ = nc.Reject(ssh.ConnectionFailed, "agent: "+err.Error())
		}
		return
	}
	dch, dreqs, err := nc.Accept()
	if err != nil {
		_ = uch.Close()
		return
	}

	// Output: upstream → client, stdout and stderr; CloseWrite when both end.
	outDone := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = io.Copy(dch, uch) }()
		go func() { defer wg.Done(); _, _ = io.Copy(dch.Stderr(), uch.Stderr()) }()
		wg.Wait()
		_ = dch.CloseWrite()
		close(outDone)
	}()
	// Input: client → upstream; CloseWrite on the client's EOF.
	go func() {
		_, _ = io.Copy(uch, dch)
		_ = uch.CloseWrite()
	}()
	// The agent's replies to the client's requests and the agent's own
	// requests and close reach the proxy on two paths (SendRequest's
	// return, ureqs), so nothing orders them. The agent sends a reply
	// before what follows it (exec's reply before the command's
	// exit-status and close); forwarding holds replying from a request's
	// send until its reply went to the client, and everything from the
	// agent waits for it. Without that, a command that ends at once could
	// have its close reach the client before the reply to exec: the client
	// saw EOF for a command that ran.
	var replying sync.Mutex
	replied := time.Now() // when the last reply (or the open) came, under replying
	// Client requests (pty-req, env, exec, subsystem, window-change, signal).
	go func() {
		for r := range dreqs {
			replying.Lock()
			t := time.Now()
			ok, _ := uch.SendRequest(r.Type, r.WantReply, r.Payload)
			if r.WantReply {
				replied = time.Now()
				tr.Set("reply", replied.Sub(t))
				_ = r.Reply(ok, nil)
			}
			replying.Unlock()
		}
		// The client closed its channel: close ours upstream.
		_ = uch.Close()
	}()
	// Agent requests (exit-status, exit-signal, ...), in order.
	for r := range ureqs {
		arrived := time.Now()
		exit := r.Type == "exit-status" || r.Type == "exit-signal"
		if exit {
			<-outDone
		}
		replying.Lock()
		if exit {
			// Under the lock the reply is recorded; an exit read just
			// before it was stamped counts as at once.
			tr.Set("exit", max(arrived.Sub(replied), 0))
		}
		ok, _ := dch.SendRequest(r.Type, r.WantReply, r.Payload)
		replying.Unlock()
		if r.WantReply {
			_ = r.Reply(ok, nil)
		}
	}
	<-outDone
	// A request in flight now gets its answer at once: the agent's reply,
	// already received, or EOF from the closed channel.
	replying.Lock()
	_ = dch.Close()
	replying.Unlock()
}
