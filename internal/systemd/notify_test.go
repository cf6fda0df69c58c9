package systemd

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// listenNotify is a service manager's end: a datagram socket at addr.
func listenNotify(t *testing.T, addr string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(b[:n])
}

// TestNotifierSendsToPathAndAbstractSockets: the datagram carries the
// assignments one per line, to a socket path and to an abstract socket
// (@name), and NOTIFY_SOCKET leaves the environment.
func TestNotifierSendsToPathAndAbstractSockets(t *testing.T) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	for _, addr := range []string{filepath.Join(t.TempDir(), "notify"), "@banger-test-" + hex.EncodeToString(b)} {
		c := listenNotify(t, addr)
		t.Setenv(EnvNotifySocket, addr)
		n, err := NewNotifier()
		if err != nil || n == nil {
			t.Fatalf("%s: notifier %v, %v", addr, n, err)
		}
		if _, ok := os.LookupEnv(EnvNotifySocket); ok {
			t.Errorf("%s is still in the environment: a VMM could speak for the daemon", EnvNotifySocket)
		}
		if err := n.Ready("serving\nnow"); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, c); got != "READY=1\nSTATUS=serving now\n" {
			t.Errorf("%s: got %q", addr, got)
		}
		if err := n.Stopping("bye"); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, c); got != "STOPPING=1\nSTATUS=bye\n" {
			t.Errorf("%s: got %q", addr, got)
		}
	}
}

func TestNotifierWithoutSocket(t *testing.T) {
	t.Setenv(EnvNotifySocket, "")
	n, err := NewNotifier()
	if n != nil || err != nil {
		t.Fatalf("notifier %v, %v; want none", n, err)
	}
	if err := n.Ready("x"); err != nil { // a nil Notifier is a no-op
		t.Fatal(err)
	}
	for _, bad := range []string{"relative/sock", "@", "vsock:2:1"} {
		t.Setenv(EnvNotifySocket, bad)
		if n, err := NewNotifier(); err == nil || !strings.Contains(err.Error(), "absolute path") {
			t.Errorf("%q: %v, %v; want an error", bad, n, err)
		}
	}
}

// TestNotifierReportsAnAbsentManager: a socket nobody listens on fails
// with its address, and does not hang.
func TestNotifierReportsAnAbsentManager(t *testing.T) {
	n := &Notifier{addr: filepath.Join(t.TempDir(), "gone")}
	start := time.Now()
	err := n.Ready("x")
	if err == nil || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("error %v, want one naming the socket", err)
	}
	if d := time.Since(start); d > notifyTimeout {
		t.Errorf("took %v", d)
	}
}
