package firecracker

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
)

// muxer serves fctest's Firecracker-like vsock muxer on a unix socket.
func muxer(t *testing.T) (string, *fctest.Guest) {
	t.Helper()
	uds := filepath.Join(fctest.ShortDir(t), "v.sock")
	l, err := net.Listen("unix", uds)
	if err != nil {
		t.Fatal(err)
	}
	g := fctest.NewGuest()
	go func() { _ = fctest.ServeMuxer(l, g) }()
	t.Cleanup(func() { _ = l.Close() })
	return uds, g
}

func TestDialVsock(t *testing.T) {
	uds, g := muxer(t)
	l, err := g.Listen(vmm.AgentVsockPort)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	// The guest greets first: the greeting must not be eaten by the
	// handshake's read of "OK <port>\n".
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write([]byte("SSH-2.0-banger\r\n"))
		_, _ = io.Copy(c, c)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialVsock(ctx, uds, vmm.AgentVsockPort)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	buf := make([]byte, len("SSH-2.0-banger\r\n"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "SSH-2.0-banger\r\n" {
		t.Fatalf("greeting = %q, %v", buf, err)
	}
	if _, err := c.Write([]byte("echo")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "echo" {
		t.Fatalf("echo = %q, %v", buf[:4], err)
	}
}

// Nothing listens on the guest port: Firecracker closes each attempt, and
// the dialer retries until its deadline, then says why.
func TestDialVsockGuestNotListening(t *testing.T) {
	uds, _ := muxer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := DialVsock(ctx, uds, 4242)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "guest is not listening on vsock port 4242") {
		t.Fatalf("DialVsock = %v", err)
	}
	if n := attempts(err); n < 3 {
		t.Fatalf("only %d attempts in 300ms: the dialer must retry", n)
	}
}

func attempts(err error) int {
	var n int
	s := err.Error()
	i := strings.Index(s, "after ")
	if i < 0 {
		return 0
	}
	for _, r := range s[i+len("after "):] {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

// The agent starts listening while the host dials; the socket itself
// appears late too (the VMM is still starting).
func TestDialVsockLateListener(t *testing.T) {
	dir := fctest.ShortDir(t)
	uds := filepath.Join(dir, "v.sock")
	g := fctest.NewGuest()
	go func() {
		time.Sleep(50 * time.Millisecond)
		l, err := net.Listen("unix", uds)
		if err != nil {
			return
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() { _ = fctest.ServeMuxer(l, g) }()
		time.Sleep(100 * time.Millisecond)
		gl, err := g.Listen(7)
		if err != nil {
			return
		}
		t.Cleanup(func() { _ = gl.Close() })
		fctest.Echo(gl)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	c, err := DialVsock(ctx, uds, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("connected before the guest listened")
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil || b[0] != 'x' {
		t.Fatalf("echo = %q, %v", b, err)
	}
}

// Something that is not Firecracker's muxer: fail at once, do not retry.
func TestDialVsockNotFirecracker(t *testing.T) {
	uds := filepath.Join(fctest.ShortDir(t), "v.sock")
	l, err := net.Listen("unix", uds)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		b := make([]byte, 64)
		n, _ := c.Read(b)
		got <- string(b[:n])
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n"))
		_ = c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err = DialVsock(ctx, uds, 1024)
	if err == nil || !strings.Contains(err.Error(), "unexpected answer to CONNECT") || time.Since(start) > time.Second {
		t.Fatalf("DialVsock = %v after %v", err, time.Since(start))
	}
	if s := <-got; s != "CONNECT 1024\n" {
		t.Fatalf("request = %q; want one write of \"CONNECT 1024\\n\"", s)
	}
}

func TestParseOK(t *testing.T) {
	tests := []struct {
		in   string
		port uint32
		ok   bool
	}{
		{"OK 1073741825", 1073741825, true},
		{"OK 0", 0, true},
		{"OK", 0, false},
		{"OK -1", 0, false},
		{"OK 4294967296", 0, false},
		{"ok 5", 0, false},
		{"OK 5 ", 0, false},
	}
	for _, tt := range tests {
		p, err := ParseOK(tt.in)
		if (err == nil) != tt.ok || p != tt.port {
			t.Errorf("ParseOK(%q) = %d, %v", tt.in, p, err)
		}
	}
}
