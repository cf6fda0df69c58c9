package fctest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Guest is the guest side of a hybrid vsock device: the ports guest
// programs listen on.
type Guest struct {
	mu        sync.Mutex
	listeners map[uint32]*guestListener
	nextPort  uint32
}

// NewGuest returns a guest with no listening port.
func NewGuest() *Guest {
	// Firecracker numbers host-side ports of host-initiated connections
	// from 2^30 up.
	return &Guest{listeners: map[uint32]*guestListener{}, nextPort: 1 << 30}
}

// Listen starts listening on a guest vsock port, as a guest program
// would with AF_VSOCK. Close the listener to stop.
func (g *Guest) Listen(port uint32) (net.Listener, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, busy := g.listeners[port]; busy {
		return nil, fmt.Errorf("guest vsock port %d: address in use", port)
	}
	l := &guestListener{g: g, port: port, conns: make(chan net.Conn), done: make(chan struct{})}
	g.listeners[port] = l
	return l, nil
}

// lookup returns the listener on port (nil when none) and numbers the
// connection's host-side port.
func (g *Guest) lookup(port uint32) (*guestListener, uint32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextPort++
	return g.listeners[port], g.nextPort
}

type guestListener struct {
	g     *Guest
	port  uint32
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *guestListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *guestListener) Close() error {
	l.once.Do(func() {
		l.g.mu.Lock()
		delete(l.g.listeners, l.port)
		l.g.mu.Unlock()
		close(l.done)
	})
	return nil
}

func (l *guestListener) Addr() net.Addr { return vsockAddr(l.port) }

type vsockAddr uint32

func (a vsockAddr) Network() string { return "vsock" }
func (a vsockAddr) String() string  { return "3:" + strconv.FormatUint(uint64(a), 10) }

// ServeMuxer accepts host connections on l and handles them as
// Firecracker's vsock muxer does for host-initiated connections: read
// "CONNECT <port>\n"; if a guest program listens on port, answer
// "OK <host port>\n" and hand the stream over; if none does (the guest
// answers the request with a reset), close the connection without a word.
// It returns when l is closed.
func ServeMuxer(l net.Listener, g *Guest) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go muxConn(c, g)
	}
}

func muxConn(c net.Conn, g *Guest) {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	port, err := readConnect(c)
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		return
	}
	l, hostPort := g.lookup(port)
	if l == nil {
		_ = c.Close() // the guest reset the connection request
		return
	}
	// The OK line reaches the host before any guest byte.
	if _, err := fmt.Fprintf(c, "OK %d\n", hostPort); err != nil {
		_ = c.Close()
		return
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	case <-time.After(2 * time.Second): // a listener that never accepts
		_ = c.Close()
	}
}

// readConnect reads the "CONNECT <port>\n" line byte by byte, so nothing
// past the newline (the stream's first bytes) is consumed.
func readConnect(c net.Conn) (uint32, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 32 {
		if _, err := c.Read(b); err != nil {
			return 0, err
		}
		if b[0] == '\n' {
			return ParseConnect(string(line))
		}
		line = append(line, b[0])
	}
	return 0, errors.New("connect line too long")
}

// ParseConnect parses a connect request without its newline.
func ParseConnect(line string) (uint32, error) {
	rest, ok := strings.CutPrefix(line, "CONNECT ")
	if !ok {
		return 0, fmt.Errorf("not a connect request: %q", line)
	}
	port, err := strconv.ParseUint(rest, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("bad port in connect request %q", line)
	}
	return uint32(port), nil
}
