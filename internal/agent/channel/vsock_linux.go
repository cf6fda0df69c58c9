package channel

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Vsock is an AF_VSOCK listener. Firecracker's hybrid vsock delivers the
// host's "CONNECT <port>" as an ordinary vsock connection to this port.
type Vsock struct {
	f    *os.File
	port uint32
}

// ListenVsock listens on port for any CID.
func ListenVsock(port uint32) (*Vsock, error) {
	fd, err := unix.Socket(unix.AF_VSOCK, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("vsock socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrVM{CID: unix.VMADDR_CID_ANY, Port: port}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("vsock bind port %d: %w", port, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("vsock listen: %w", err)
	}
	return &Vsock{f: os.NewFile(uintptr(fd), "vsock:"+strconv.Itoa(int(port))), port: port}, nil
}

// Accept waits for a connection (in Go's poller, so Close interrupts it).
func (v *Vsock) Accept() (net.Conn, error) {
	rc, err := v.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var nfd int
	var sa unix.Sockaddr
	var aerr error
	err = rc.Read(func(fd uintptr) bool {
		nfd, sa, aerr = unix.Accept4(int(fd), unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK)
		return !errors.Is(aerr, unix.EAGAIN)
	})
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			return nil, net.ErrClosed
		}
		return nil, err
	}
	if aerr != nil {
		return nil, fmt.Errorf("vsock accept: %w", aerr)
	}
	remote := Addr{"vsock", "?"}
	if vm, ok := sa.(*unix.SockaddrVM); ok {
		remote.Name = fmt.Sprintf("%d:%d", vm.CID, vm.Port)
	}
	return &fileConn{f: os.NewFile(uintptr(nfd), "vsock-conn"), local: v.Addr(), remote: remote}, nil
}

// Close stops the listener.
func (v *Vsock) Close() error { return v.f.Close() }

// Addr names the listener.
func (v *Vsock) Addr() net.Addr { return Addr{"vsock", strconv.Itoa(int(v.port))} }
