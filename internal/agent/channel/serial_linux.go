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
// stream, so it yields one connection at a time: Accept opens the port and
// returns it; when that connection closes (the host hung up and the read
// returned EOF), the next Accept reopens it for the next host.
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
	cur                  *fileConn
}

// ListenSerial returns a listener for the port called name. The port may
// appear later (its driver is a module); Accept waits for it.
func ListenSerial(name, sysDir, devDir string) *Serial {
	s := &Serial{name: name, sysDir: sysDir, devDir: devDir, token: make(chan struct{}, 1), closed: make(chan struct{})}
	s.token <- struct{}{}
	return s
}

// Accept waits for the previous connection to close and the port to
// exist, then opens it.
func (s *Serial) Accept() (net.Conn, error) {
	select {
	case <-s.token:
	case <-s.closed:
		return nil, net.ErrClosed
	}
	delay := 5 * time.Millisecond
	for {
		if dev := FindPort(s.sysDir, s.name); dev != "" {
			path := filepath.Join(s.devDir, dev)
			fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
			if err == nil {
				c := &fileConn{f: os.NewFile(uintptr(fd), path), local: s.Addr(), remote: Addr{"virtio-serial", "host"}}
				c.onClose = func() { s.release(c) }
				s.mu.Lock()
				s.cur = c
				s.mu.Unlock()
				return c, nil
			}
			if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOENT) { // EBUSY: the last close is still in flight
				s.token <- struct{}{}
				return nil, fmt.Errorf("open %s: %w", path, err)
			}
		}
		select {
		case <-s.closed:
			s.token <- struct{}{}
			return nil, net.ErrClosed
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func (s *Serial) release(c *fileConn) {
	s.mu.Lock()
	if s.cur == c {
		s.cur = nil
	}
	s.mu.Unlock()
	s.token <- struct{}{}
}

// Close stops Accept and closes the open connection.
func (s *Serial) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	c := s.cur
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
	return nil
}

// Addr names the port.
func (s *Serial) Addr() net.Addr { return Addr{"virtio-serial", s.name} }
