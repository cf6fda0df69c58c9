package sshproxy

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// lateReplies is an upstream whose answer to exec reaches the proxy only
// after the channel's own requests and close did, and after the client
// saw the channel close (or, when the proxy keeps the order, a while): the
// scheduling a loaded host can produce, made certain.
type lateReplies struct {
	*ssh.Client
	clientClosed chan struct{}
}

func (u lateReplies) OpenChannel(name string, data []byte) (ssh.Channel, <-chan *ssh.Request, error) {
	ch, reqs, err := u.Client.OpenChannel(name, data)
	if err != nil {
		return nil, nil, err
	}
	out := make(chan *ssh.Request)
	drained := make(chan struct{})
	go func() {
		for r := range reqs {
			out <- r
		}
		close(out)
		close(drained)
	}()
	return lateChannel{Channel: ch, drained: drained, clientClosed: u.clientClosed}, out, nil
}

type lateChannel struct {
	ssh.Channel
	drained, clientClosed <-chan struct{}
}

func (c lateChannel) SendRequest(name string, wantReply bool, payload []byte) (bool, error) {
	ok, err := c.Channel.SendRequest(name, wantReply, payload)
	if name == "exec" {
		<-c.drained
		select {
		case <-c.clientClosed:
		case <-time.After(300 * time.Millisecond):
		}
	}
	return ok, err
}

// A command that ends at once: the upstream answers exec, then sends
// exit-status and closes. However late the answer to exec gets through
// the proxy, the client gets it before the exit status and the close, so
// it learns the command ran and how it exited, instead of EOF.
func TestExecReplyReachesTheClientBeforeTheClose(t *testing.T) {
	up := lateReplies{Client: upstreamServer(t)}
	a, b := socketPair(t)
	go func() { _ = Serve(context.Background(), a, signer(t), &up, nil) }()
	c, chans, reqs, err := ssh.NewClientConn(b, "daemon", &ssh.ClientConfig{
		User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // in-test peer
	})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer func() { _ = client.Close() }()
	for i := range 3 {
		up.clientClosed = make(chan struct{})
		ch, creqs, err := client.OpenChannel("session", nil)
		if err != nil {
			t.Fatal(err)
		}
		status := make(chan uint32, 1)
		go func(closed chan struct{}) {
			for r := range creqs {
				if r.Type == "exit-status" {
					status <- binary.BigEndian.Uint32(r.Payload)
				}
			}
			close(closed)
		}(up.clientClosed)
		ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{"true"}))
		if err != nil || !ok {
			t.Fatalf("run %d: exec answered %v, %v; want the upstream's yes (the command ran)", i, ok, err)
		}
		select {
		case s := <-status:
			if s != 0 {
				t.Fatalf("run %d: exit status %d, want 0", i, s)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("run %d: no exit status", i)
		}
		_ = ch.Close()
	}
}
