package channel

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakePort makes sysDir/<dev>/name = name and devDir/<dev> a FIFO (which,
// opened read-write, loops what is written back: enough to carry bytes).
func fakePort(t *testing.T, sysDir, devDir, dev, name string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(sysDir, dev), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(devDir, dev), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sysDir, dev, "name"), []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFindPort(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	fakePort(t, sys, dev, "vport1p1", "org.qemu.guest_agent.0")
	fakePort(t, sys, dev, "vport1p2", "banger.agent")
	if got := FindPort(sys, "banger.agent"); got != "vport1p2" {
		t.Errorf("FindPort = %q, want vport1p2", got)
	}
	if got := FindPort(sys, "other"); got != "" {
		t.Errorf("FindPort(other) = %q", got)
	}
	if got := FindPort(filepath.Join(sys, "missing"), "banger.agent"); got != "" {
		t.Errorf("FindPort on a missing dir = %q", got)
	}
}

func accept(l net.Listener) chan net.Conn {
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(ch)
			return
		}
		ch <- c
	}()
	return ch
}

func TestSerialOneConnectionAtATimeAndLatePort(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	l := ListenSerial("banger.agent", sys, dev)
	defer func() { _ = l.Close() }()
	first := accept(l)
	time.Sleep(30 * time.Millisecond) // the driver loads late
	fakePort(t, sys, dev, "vport2p1", "banger.agent")
	var c1 net.Conn
	select {
	case c1 = <-first:
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not find the port once it appeared")
	}
	if _, err := c1.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if n, err := c1.Read(buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	second := accept(l)
	select {
	case <-second:
		t.Fatal("a second connection while the first is open")
	case <-time.After(50 * time.Millisecond):
	}
	_ = c1.Close()
	var c2 net.Conn
	select {
	case c, ok := <-second:
		if !ok {
			t.Fatal("second Accept failed")
		}
		c2 = c
	case <-time.After(5 * time.Second):
		t.Fatal("the port was not reopened after the connection closed")
	}
	third := accept(l)
	time.Sleep(20 * time.Millisecond)
	_ = l.Close()
	select {
	case _, ok := <-third:
		if ok {
			t.Fatal("Accept after Close returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop Accept")
	}
	if _, err := c2.Write([]byte("x")); err == nil {
		t.Fatal("the listener's Close left its connection open")
	}
}

func TestVsockListenAndClose(t *testing.T) {
	l, err := ListenVsock(52000 + uint32(os.Getpid()%1000))
	if errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.ENODEV) {
		t.Skipf("no AF_VSOCK on this host: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.Addr().Network() != "vsock" {
		t.Errorf("addr %v", l.Addr())
	}
	done := accept(l)
	time.Sleep(20 * time.Millisecond)
	_ = l.Close()
	select {
	case _, ok := <-done:
		if ok {
			t.Fatal("Accept returned a connection nobody made")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt Accept")
	}
}

// TestSerialHoldsThePortAndHandsOverLateBytes: the port is opened once for
// every connection (reopening it stalled reconnects under QEMU), and bytes
// a closed connection's blocked read picked up go to the next connection.
func TestSerialHoldsThePortAndHandsOverLateBytes(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	fakePort(t, sys, dev, "vport1p1", "banger.agent")
	l := ListenSerial("banger.agent", sys, dev)
	defer func() { _ = l.Close() }()
	c1 := <-accept(l)
	if c1 == nil {
		t.Fatal("no first connection")
	}
	port := l.port

	// A read blocked in the kernel while the connection closes.
	got := make(chan error, 1)
	go func() {
		_, err := c1.Read(make([]byte, 16))
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = c1.Close()
	c2 := <-accept(l)
	if c2 == nil {
		t.Fatal("no second connection")
	}
	if l.port != port {
		t.Fatal("the port was reopened for the second connection")
	}
	// The next host's first bytes arrive; the stale read takes them...
	if _, err := port.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("the closed connection's read: %v, want net.ErrClosed", err)
	}
	// ...and hands them to the connection they belong to.
	buf := make([]byte, 16)
	n, err := c2.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("second connection read %q, %v", buf[:n], err)
	}
	if _, err := c1.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v", err)
	}
}
