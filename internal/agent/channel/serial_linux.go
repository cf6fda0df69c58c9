package channel

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/streamsync"
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
// stream that hosts connect to and hang up from, one at a time. Measured
// under QEMU 7.2, and what this design rests on:
//
//   - While no host is connected a read returns EOF at once; while one is,
//     it blocks until the host writes. A host hanging up is an EOF — but a
//     quick reconnect may reach the guest without one.
//   - Reopening the port between hosts stalled about one reconnect in ten
//     (package vmm/qemu's doc); holding it open, none in 180. So the port
//     is opened once and held for the guest's life.
//   - What the guest writes after a host hung up is buffered and reaches
//     the next host.
//
// So one reader loop owns the port, and connections are delimited by the
// streamsync exchange: a host's sync line starts a connection (Accept
// returns it, after the guest's OK line), the next sync line or EOF ends
// it, and bytes outside a connection are dropped. The port is read in
// blocking mode with a backoff while idle: poll reports POLLHUP without a
// host, so the Go poller would spin.
type Serial struct {
	name, sysDir, devDir string
	// open opens the port device; tests replace it.
	open func(path string) (io.ReadWriteCloser, error)

	conns     chan *serialConn
	closed    chan struct{}
	closeOnce sync.Once
	mu        sync.Mutex
	port      io.ReadWriteCloser
	err       error
}

// ListenSerial returns a listener for the port called name. The port may
// appear later (its driver is a module); Accept waits for it.
func ListenSerial(name, sysDir, devDir string) *Serial {
	return listenSerial(name, sysDir, devDir, openPort)
}

func listenSerial(name, sysDir, devDir string, open func(string) (io.ReadWriteCloser, error)) *Serial {
	s := &Serial{name: name, sysDir: sysDir, devDir: devDir, open: open, conns: make(chan *serialConn), closed: make(chan struct{})}
	go s.loop()
	return s
}

func openPort(path string) (io.ReadWriteCloser, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Accept returns the next host's connection.
func (s *Serial) Accept() (net.Conn, error) {
	select {
	case c, ok := <-s.conns:
		if !ok {
			s.mu.Lock()
			defer s.mu.Unlock()
			return nil, s.err
		}
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// loop owns the port: it opens it and turns its byte stream into
// connections.
func (s *Serial) loop() {
	port, err := s.waitPort()
	if err != nil {
		s.fail(err)
		return
	}
	var (
		cur   *serialConn
		scan  streamsync.Scanner
		delay = time.Millisecond
		buf   = make([]byte, 32<<10)
	)
	for {
		n, err := port.Read(buf)
		if n > 0 {
			delay = time.Millisecond
			for _, ev := range scan.Feed(buf[:n]) {
				if !ev.Start {
					if cur != nil {
						cur.deliver(ev.Data)
					}
					continue
				}
				if cur != nil {
					// That host is gone: a new one synced. Its session can
					// write no more; a write already blocked in the port
					// (its host hung up mid-transfer) cannot be recalled,
					// and would garble this sync: the host then retries.
					cur.hangup(io.EOF)
				}
				cur = newSerialConn(s, port)
				// The OK goes out before the new connection can write.
				if _, err := port.Write(streamsync.OKLine(ev.Token)); err != nil {
					s.fail(fmt.Errorf("write virtio port %s: %w", s.name, err))
					return
				}
				select {
				case s.conns <- cur:
				case <-s.closed:
					return
				}
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			if cur != nil {
				cur.hangup(err)
			}
			s.fail(fmt.Errorf("read virtio port %s: %w", s.name, err))
			return
		}
		// EOF: no host (any more).
		if cur != nil {
			cur.hangup(io.EOF)
			cur = nil
		}
		scan.Reset()
		select {
		case <-s.closed:
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// fail ends Accept with err.
func (s *Serial) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
	close(s.conns)
}

// waitPort opens the port once it exists.
func (s *Serial) waitPort() (io.ReadWriteCloser, error) {
	delay := 5 * time.Millisecond
	for {
		if dev := FindPort(s.sysDir, s.name); dev != "" {
			path := filepath.Join(s.devDir, dev)
			port, err := s.open(path)
			if err == nil {
				s.mu.Lock()
				s.port = port
				s.mu.Unlock()
				return port, nil
			}
			if !errors.Is(err, unix.EBUSY) && !errors.Is(err, unix.ENOENT) {
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

// Close stops Accept and closes the port.
func (s *Serial) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	s.mu.Lock()
	port := s.port
	s.port = nil
	s.mu.Unlock()
	if port != nil {
		return port.Close()
	}
	return nil
}

// Addr names the port.
func (s *Serial) Addr() net.Addr { return Addr{"virtio-serial", s.name} }

// serialConn is one host's connection: reads come from the reader loop,
// writes go straight to the port.
type serialConn struct {
	s    *Serial
	port io.Writer
	r    *io.PipeReader
	w    *io.PipeWriter
	mu   sync.Mutex
	done bool
}

func newSerialConn(s *Serial, port io.Writer) *serialConn {
	r, w := io.Pipe()
	return &serialConn{s: s, port: port, r: r, w: w}
}

// deliver hands the host's bytes to the connection's reader; it blocks
// until they are read (backpressure) or the connection closes.
func (c *serialConn) deliver(p []byte) { _, _ = c.w.Write(p) }

// hangup ends the connection: the host went away. Its input reads err,
// and its writes fail, so nothing of it reaches the next host.
func (c *serialConn) hangup(err error) {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	_ = c.w.CloseWithError(err)
}

func (c *serialConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

func (c *serialConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *serialConn) Write(p []byte) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	return c.port.Write(p)
}

// Close ends the connection; the port stays open for the next host.
func (c *serialConn) Close() error {
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	_ = c.r.CloseWithError(net.ErrClosed)
	return nil
}

func (c *serialConn) LocalAddr() net.Addr  { return c.s.Addr() }
func (c *serialConn) RemoteAddr() net.Addr { return Addr{"virtio-serial", "host"} }

// A virtio port has no deadlines, which the SSH server does not need.
func (c *serialConn) SetDeadline(time.Time) error      { return nil }
func (c *serialConn) SetReadDeadline(time.Time) error  { return nil }
func (c *serialConn) SetWriteDeadline(time.Time) error { return nil }
