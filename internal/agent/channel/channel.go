// Package channel gives the agent its listeners, one per transport the
// host may use (docs/architecture.md, "Host ↔ guest"): a QEMU virtio-serial port
// found by name, AF_VSOCK (Firecracker's hybrid vsock ends in the guest as
// a plain vsock connection) and TCP on the VM's address. Each is a
// net.Listener, so the SSH server does not know which it serves.
package channel

import (
	"net"
	"os"
	"sync"
	"time"
)

// fileConn is a net.Conn over a file descriptor (a virtio port or an
// accepted vsock socket).
type fileConn struct {
	f             *os.File
	local, remote net.Addr
	once          sync.Once
	onClose       func()
}

func (c *fileConn) Read(p []byte) (int, error)  { return c.f.Read(p) }
func (c *fileConn) Write(p []byte) (int, error) { return c.f.Write(p) }
func (c *fileConn) Close() error {
	err := c.f.Close()
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}
func (c *fileConn) LocalAddr() net.Addr  { return c.local }
func (c *fileConn) RemoteAddr() net.Addr { return c.remote }

// Deadlines work on pollable descriptors (vsock); a blocking virtio port
// has none, which the SSH server does not need.
func (c *fileConn) SetDeadline(t time.Time) error      { _ = c.f.SetDeadline(t); return nil }
func (c *fileConn) SetReadDeadline(t time.Time) error  { _ = c.f.SetReadDeadline(t); return nil }
func (c *fileConn) SetWriteDeadline(t time.Time) error { _ = c.f.SetWriteDeadline(t); return nil }

// Addr names a listener for logs.
type Addr struct{ Net, Name string }

// Network returns the transport's name.
func (a Addr) Network() string { return a.Net }
func (a Addr) String() string  { return a.Name }
