package sshd

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
)

const forwardDialTimeout = 10 * time.Second

// directTCPIP serves a direct-tcpip channel (ssh -L, agentclient.DialGuest):
// the agent dials the address from inside the guest.
func (s *Server) directTCPIP(nc ssh.NewChannel) {
	var p proto.ChannelOpenDirect
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "bad direct-tcpip request")
		return
	}
	s.forward(nc, "tcp", net.JoinHostPort(p.Host, strconv.FormatUint(uint64(p.Port), 10)))
}

// directStreamLocal serves OpenSSH's direct-streamlocal channel (ssh -L
// to a unix socket in the guest, e.g. a docker.sock).
func (s *Server) directStreamLocal(nc ssh.NewChannel) {
	var p proto.ChannelOpenStreamLocal
	if err := ssh.Unmarshal(nc.ExtraData(), &p); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "bad direct-streamlocal request")
		return
	}
	s.forward(nc, "unix", p.Path)
}

func (s *Server) forward(nc ssh.NewChannel, network, addr string) {
	conn, err := (&net.Dialer{Timeout: forwardDialTimeout}).DialContext(context.Background(), network, addr)
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	Splice(ch, conn)
}

// halfCloser is a stream whose write side closes alone.
type halfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// Splice copies both ways between a and b, passing each side's EOF on as a
// half-close, and closes both when both directions are done.
func Splice(a ssh.Channel, b net.Conn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(a, b)
		_ = a.CloseWrite()
	})
	wg.Go(func() {
		_, _ = io.Copy(b, a)
		if hc, ok := b.(halfCloser); ok {
			_ = hc.CloseWrite()
		} else {
			_ = b.Close()
		}
	})
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
}
