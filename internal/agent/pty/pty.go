// Package pty opens pseudo-terminals for the agent. It exists instead of
// github.com/creack/pty because that package switches the master to
// blocking mode (it takes os.File.Fd for its ioctls): a blocked read then
// cannot be interrupted by Close, and the agent must be able to stop
// reading a terminal that a background job keeps open. Here the master
// stays non-blocking (in Go's poller) and ioctls go through SyscallConn.
package pty

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Open returns a new pseudo-terminal's master and slave ends.
func Open() (master, slave *os.File, err error) {
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0) // unlock
	}
	if err != nil {
		_ = unix.Close(fd)
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	name := "/dev/pts/" + strconv.Itoa(n)
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	slave, err = os.OpenFile(name, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		_ = master.Close()
		return nil, nil, fmt.Errorf("open %s: %w", name, err)
	}
	return master, slave, nil
}

// Setsize sets the terminal's window size (the kernel sends SIGWINCH to
// its foreground process group).
func Setsize(master *os.File, rows, cols uint16) error {
	rc, err := master.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		ioErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
	if err != nil {
		return err
	}
	return ioErr
}
