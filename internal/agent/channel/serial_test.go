package channel

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/streamsync"
)

// virtioPort models a virtio-serial port as measured under QEMU: without a
// host a read returns EOF at once; with one it blocks until the host
// writes; a hang-up is an EOF; what the guest writes without a host is
// kept and reaches the next host.
type virtioPort struct {
	mu        sync.Mutex
	cond      *sync.Cond
	connected bool
	// toGuest is the stream the guest reads, in order: data, and a nil
	// entry where a host hung up (read as one EOF).
	toGuest [][]byte
	toHost  bytes.Buffer
	closed  bool
}

func newVirtioPort() *virtioPort {
	p := &virtioPort{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *virtioPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.closed:
			return 0, os.ErrClosed
		case len(p.toGuest) > 0 && p.toGuest[0] == nil:
			p.toGuest = p.toGuest[1:]
			return 0, io.EOF
		case len(p.toGuest) > 0:
			n := copy(b, p.toGuest[0])
			if p.toGuest[0] = p.toGuest[0][n:]; len(p.toGuest[0]) == 0 {
				p.toGuest = p.toGuest[1:]
			}
			return n, nil
		case !p.connected:
			return 0, io.EOF
		}
		p.cond.Wait()
	}
}

func (p *virtioPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.toHost.Write(b)
}

func (p *virtioPort) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.cond.Broadcast()
	return nil
}

// connect is a host connecting; it gets what the guest wrote meanwhile.
func (p *virtioPort) connect() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connected = true
}

func (p *virtioPort) send(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.toGuest = append(p.toGuest, []byte(s))
	p.cond.Broadcast()
}

func (p *virtioPort) hangUp() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connected = false
	p.toGuest = append(p.toGuest, nil)
	p.cond.Broadcast()
}

// received returns (and forgets) what the host got.
func (p *virtioPort) received() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.toHost.String()
	p.toHost.Reset()
	return s
}

func serialOn(t *testing.T, port *virtioPort) (*Serial, string) {
	t.Helper()
	sys, dev := t.TempDir(), t.TempDir()
	l := listenSerial("banger.agent", sys, dev, func(string) (io.ReadWriteCloser, error) { return port, nil })
	t.Cleanup(func() { _ = l.Close() })
	return l, sys
}

func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(buf)
}

func wantNoConn(t *testing.T, ch chan net.Conn) {
	t.Helper()
	select {
	case c := <-ch:
		t.Fatalf("unexpected connection %v", c)
	case <-time.After(80 * time.Millisecond):
	}
}

func TestSerialConnectionsStartWithTheSync(t *testing.T) {
	port := newVirtioPort()
	l, sys := serialOn(t, port)
	first := accept(l)
	time.Sleep(20 * time.Millisecond) // the driver loads late
	fakePort(t, sys, t.TempDir(), "vport2p1", "banger.agent")
	port.connect()
	port.send("bytes of no session")
	wantNoConn(t, first)
	t1 := streamsync.NewToken()
	port.send(string(streamsync.SyncLine(t1)) + "SSH-2.0-host\r\n")
	c1 := <-first
	if c1 == nil {
		t.Fatal("no connection after the sync")
	}
	if got := port.received(); got != string(streamsync.OKLine(t1)) {
		t.Fatalf("the guest answered %q, want its OK line first", got)
	}
	if got := readN(t, c1, 14); got != "SSH-2.0-host\r\n" {
		t.Fatalf("first bytes %q", got)
	}
	if _, err := c1.Write([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if got := port.received(); got != "reply" {
		t.Fatalf("host got %q", got)
	}
	// More bytes from the same host go to the same connection.
	second := accept(l)
	port.send("more")
	if got := readN(t, c1, 4); got != "more" {
		t.Fatalf("second read %q", got)
	}
	wantNoConn(t, second)

	// The host hangs up: the connection reads EOF and can write no more,
	// so nothing of it reaches the next host.
	port.hangUp()
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("after the hang-up: %v, want EOF", err)
	}
	if _, err := c1.Write([]byte("late")); err == nil {
		t.Fatal("a hung-up connection could still write")
	}
	wantNoConn(t, second)

	port.connect()
	t2 := streamsync.NewToken()
	port.send(string(streamsync.SyncLine(t2)) + "hello")
	c2 := <-second
	if got := readN(t, c2, 5); got != "hello" {
		t.Fatalf("next host's bytes %q", got)
	}
	if got := port.received(); got != string(streamsync.OKLine(t2)) {
		t.Fatalf("next host got %q, want only the OK line", got)
	}
}

// A host that comes back before the guest saw its hang-up: its sync line
// ends the old session and starts a new one.
func TestSerialSyncWithoutHangUp(t *testing.T) {
	port := newVirtioPort()
	l, sys := serialOn(t, port)
	fakePort(t, sys, t.TempDir(), "vport1p1", "banger.agent")
	port.connect()
	port.send(string(streamsync.SyncLine(streamsync.NewToken())) + "one")
	c1 := <-accept(l)
	_ = readN(t, c1, 3)
	next := accept(l)
	port.send(string(streamsync.SyncLine(streamsync.NewToken())) + "two")
	c2 := <-next
	if c2 == nil {
		t.Fatal("the second sync started no connection")
	}
	if _, err := c1.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the old session: %v, want EOF", err)
	}
	if got := readN(t, c2, 3); got != "two" {
		t.Fatalf("new session got %q", got)
	}
}

func TestSerialGuestCloseDropsTheRestOfThatHost(t *testing.T) {
	port := newVirtioPort()
	l, sys := serialOn(t, port)
	fakePort(t, sys, t.TempDir(), "vport1p1", "banger.agent")
	port.connect()
	port.send(string(streamsync.SyncLine(streamsync.NewToken())) + "a")
	c1 := <-accept(l)
	_ = readN(t, c1, 1)
	_ = c1.Close() // the guest gives up on this host
	if _, err := c1.Write([]byte("x")); err == nil {
		t.Fatal("write on a closed connection succeeded")
	}
	next := accept(l)
	port.send("stale tail of the old session")
	wantNoConn(t, next)
	port.send(string(streamsync.SyncLine(streamsync.NewToken())) + "fresh")
	c2 := <-next
	if got := readN(t, c2, 5); got != "fresh" {
		t.Fatalf("new host got %q: the old host's bytes leaked", got)
	}
}

func TestSerialCloseStopsAccept(t *testing.T) {
	port := newVirtioPort()
	l, _ := serialOn(t, port)
	waiting := accept(l)
	time.Sleep(20 * time.Millisecond)
	_ = l.Close()
	select {
	case c, ok := <-waiting:
		if ok && c != nil {
			t.Fatal("Accept after Close returned a connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop Accept")
	}
}
