package channel

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Where the kernel shows virtio-serial ports (no udev needed).
const (
	SysVirtioPorts = "/sys/class/virtio-ports"
	DevDir         = "/dev"
)

// FindPort returns the device name (vportNpM) of the virtio-serial port
// called name under sysDir, or "" when none is (yet).
func FindPort(sysDir, name string) string {
	ents, err := os.ReadDir(sysDir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(sysDir, e.Name(), "name"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			return e.Name()
		}
	}
	return ""
}

// Serial is a listener on one virtio-serial port. A port is one byte
// stream, so it yields one connection at a time: Accept returns a
// connection on the port; when it closes (the host hung up and a read
// returned EOF), the next Accept returns the next host's connection.
//
// The port is opened once and held open for the guest's life. Closing and
// reopening it between hosts stalled about one reconnect in ten under QEMU
// 7.2 (measured; see package vmm/qemu); holding it, none in 180. A
// connection's Close therefore ends only the connection, not the file.
//
// The port is opened in blocking mode on purpose: while no host is
// connected a read returns EOF at once and poll reports POLLHUP, so the
// Go poller would spin; a blocking write (the SSH version line goes first)
// instead sleeps in the kernel until a host connects.
type Serial struct {
	name, sysDir, devDir string
	token                chan struct{}
	closed               chan struct{}
	closeOnce            sync.Once
	mu                   sync.Mutex
	port                 *os.File
	cur                  *serialConn
	// pending holds bytes a closed connection's late read got; they
	// belong to the next connection.
	pending []byte
}

// ListenSerial returns a listener for the port called name. The port may
// appear later (its driver is a module); Accept waits for it.
func ListenSerial(name, sysDir, devDir string) *Serial {
	s := &Serial{name: name, sysDir: sysDir, devDir: devDir, token: make(chan struct{}, 1), closed: make(chan struct{})}
	s.token <- struct{}{}
	return s
}

// Accept waits for the previous connection to close and the port to
// exist (opening it the first time), then returns the next connection.
func (s *Serial) Accept() (net.Conn, error) {
	select {
	case <-s.token:
	case <-s.closed:
		return nil, net.ErrClosed
	}
	port, err := s.open()
	if err != nil {
		s.token <- struct{}{}
		return nil, err
	}
	c := &serialConn{s: s, f: port}
	s.mu.Lock()
	s.cur = c
	s.mu.Unlock()
	return c, nil
}

// open returns the port, opening it once it exists.
func (s *Serial) open() (*os.File, error) {
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	if port != nil {
		return port, nil
	}
	delay := 5 * time.Millisecond
	for {
		if dev := FindPort(s.sysDir, s.name); dev != "" {
			path := filepath.Join(s.devDir, dev)
			fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
			if err == nil {
				f := os.NewFile(uintptr(fd), path)
				s.mu.Lock()
				s.port = f
				s.mu.Unlock()
				return f, nil
			}
			if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOENT) { // EBUSY: a last close still in flight
				return nil, fmt.Errorf("open %s: %w", path, err)
			}
		}
		select {
		case <-s.closed:
			return nil, net.ErrClosed
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func (s *Serial) release(c *serialConn) {
	s.mu.Lock()
	if s.cur == c {
		s.cur = nil
	}
	s.mu.Unlock()
	s.token <- struct{}{}
}

// serialConn is one host's connection on the shared port.
type serialConn struct {
	s      *Serial
	f      *os.File
	mu     sync.Mutex
	closed bool
	once   sync.Once
}

func (c *serialConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *serialConn) Read(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	c.s.mu.Lock()
	if len(c.s.pending) > 0 {
		n := copy(p, c.s.pending)
		c.s.pending = c.s.pending[n:]
		c.s.mu.Unlock()
		return n, nil
	}
	c.s.mu.Unlock()
	n, err := c.f.Read(p)
	if c.isClosed() {
		// A read that was blocked when the connection closed got the next
		// host's bytes: keep them for the next connection.
		if n > 0 {
			c.s.mu.Lock()
			c.s.pending = append(c.s.pending, p[:n]...)
			c.s.mu.Unlock()
		}
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *serialConn) Write(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	return c.f.Write(p)
}

// Close ends the connection; the port stays open for the next one.
func (c *serialConn) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.s.release(c)
	})
	return nil
}

func (c *serialConn) LocalAddr() net.Addr  { return c.s.Addr() }
func (c *serialConn) RemoteAddr() net.Addr { return Addr{"virtio-serial", "host"} }

// A blocking virtio port has no deadlines, which the SSH server does not
// need.
func (c *serialConn) SetDeadline(time.Time) error      { return nil }
func (c *serialConn) SetReadDeadline(time.Time) error  { return nil }
func (c *serialConn) SetWriteDeadline(time.Time) error { return nil }

// Close stops Accept, ends the open connection and closes the port.
func (s *Serial) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	c, port := s.cur, s.port
	s.port = nil
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	if port != nil {
		return port.Close()
	}
	return nil
}

// Addr names the port.
func (s *Serial) Addr() net.Addr { return Addr{"virtio-serial", s.name} }
