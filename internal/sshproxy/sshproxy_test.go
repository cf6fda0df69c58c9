package sshproxy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func signer(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// socketPair returns two connected stream sockets. (net.Pipe would
// deadlock: both SSH ends write their version line before reading.)
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		_ = f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns[0], conns[1]
}

// upstreamServer is the test's stand-in for the guest agent: a real SSH
// server whose "exec" runs a tiny built-in command set, enough to observe
// what the proxy carries.
func upstreamServer(t *testing.T) *ssh.Client {
	t.Helper()
	srvConn, cliConn := socketPair(t)
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer(t))
	go func() {
		_, chans, reqs, err := ssh.NewServerConn(srvConn, cfg)
		if err != nil {
			return
		}
		go func() {
			for r := range reqs {
				if r.Type == "agent-info" {
					_ = r.Reply(true, []byte("v1"))
					continue
				}
				_ = r.Reply(false, nil)
			}
		}()
		for nc := range chans {
			if nc.ChannelType() != "session" {
				_ = nc.Reject(ssh.UnknownChannelType, "only sessions here")
				continue
			}
			ch, reqs, _ := nc.Accept()
			go serveSession(ch, reqs)
		}
	}()
	c, chans, reqs, err := ssh.NewClientConn(cliConn, "agent", &ssh.ClientConfig{
		User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // in-test peer
	})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(c, chans, reqs)
	t.Cleanup(func() { _ = client.Close() })
	return client
}

func serveSession(ch ssh.Channel, reqs <-chan *ssh.Request) {
	var cols atomic.Uint32
	for r := range reqs {
		switch r.Type {
		case "pty-req":
			_ = r.Reply(true, nil)
		case "window-change":
			cols.Store(binary.BigEndian.Uint32(r.Payload[:4]))
		case "exec":
			_ = r.Reply(true, nil)
			go runCommand(ch, string(r.Payload[4:]), &cols)
		default:
			_ = r.Reply(false, nil)
		}
	}
}

func runCommand(ch ssh.Channel, cmd string, cols *atomic.Uint32) {
	code := uint32(0)
	switch cmd {
	case "cat":
		_, _ = io.Copy(ch, ch)
	case "fail":
		_, _ = io.WriteString(ch, "out\n")
		_, _ = io.WriteString(ch.Stderr(), "err\n")
		code = 3
	case "big":
		buf := bytes.Repeat([]byte("x"), 1<<20)
		for range 8 {
			_, _ = ch.Write(buf)
		}
	case "cols":
		for range 100 {
			if cols.Load() != 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		_, _ = io.WriteString(ch, strings.Repeat("c", int(cols.Load())))
	}
	_, _ = ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, code))
	_ = ch.Close()
}

// proxied returns a client talking to the upstream through Serve.
func proxied(t *testing.T) *ssh.Client {
	t.Helper()
	up := upstreamServer(t)
	a, b := socketPair(t)
	done := make(chan error, 1)
	go func() { done <- Serve(context.Background(), a, signer(t), up, nil) }()
	c, chans, reqs, err := ssh.NewClientConn(b, "daemon", &ssh.ClientConfig{
		User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // in-test peer
	})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(c, chans, reqs)
	t.Cleanup(func() {
		_ = client.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Serve did not return after the client closed")
		}
	})
	return client
}

func TestExitStatusAndStreams(t *testing.T) {
	c := proxied(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	s.Stdout, s.Stderr = &out, &errb
	err = s.Run("fail")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
		t.Fatalf("want exit status 3, got %v", err)
	}
	if out.String() != "out\n" || errb.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
}

func TestStdinAndLargeOutput(t *testing.T) {
	c := proxied(t)
	s, _ := c.NewSession()
	s.Stdin = strings.NewReader("hello through the proxy")
	out, err := s.Output("cat")
	if err != nil || string(out) != "hello through the proxy" {
		t.Fatalf("cat: %q, %v", out, err)
	}
	s2, _ := c.NewSession()
	out, err = s2.Output("big")
	if err != nil || len(out) != 8<<20 {
		t.Fatalf("big: %d bytes, %v", len(out), err)
	}
}

func TestRequestsReachUpstream(t *testing.T) {
	c := proxied(t)
	s, _ := c.NewSession()
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Start("cols"); err != nil {
		t.Fatal(err)
	}
	if err := s.WindowChange(30, 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 42 {
		t.Fatalf("window-change not forwarded: upstream saw %d columns", out.Len())
	}
}

func TestUpstreamRejectionSurfaces(t *testing.T) {
	c := proxied(t)
	_, _, err := c.OpenChannel("direct-tcpip", nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.UnknownChannelType || oce.Message != "only sessions here" {
		t.Fatalf("want the upstream's rejection, got %v", err)
	}
}

func TestConcurrentSessions(t *testing.T) {
	c := proxied(t)
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.NewSession()
			if err != nil {
				t.Error(err)
				return
			}
			want := strings.Repeat(string(rune('a'+i%26)), 1000+i)
			s.Stdin = strings.NewReader(want)
			out, err := s.Output("cat")
			if err != nil || string(out) != want {
				t.Errorf("session %d: %d bytes, %v", i, len(out), err)
			}
		}()
	}
	wg.Wait()
}

func TestGlobalRequestsReachUpstream(t *testing.T) {
	c := proxied(t)
	ok, payload, err := c.SendRequest("agent-info", true, nil)
	if err != nil || !ok || string(payload) != "v1" {
		t.Fatalf("global request through the proxy: ok=%v payload=%q err=%v", ok, payload, err)
	}
	ok, _, err = c.SendRequest("tcpip-forward", true, nil)
	if err != nil || ok {
		t.Fatalf("remote forwarding must be refused, got ok=%v err=%v", ok, err)
	}
}
