package firecracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func deviceNumber(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Rdev
	}
	return 0
}

func mknodBlock(path string, rdev uint64) error {
	return unix.Mknod(path, unix.S_IFBLK|0o600, int(rdev))
}

// waitSocket waits until a unix socket at path accepts connections, the
// process exits (exited closes) or ctx ends. It watches the directory with
// inotify rather than sleeping blindly: Firecracker creates its socket a
// few milliseconds after exec, and the wait ends on that event.
func waitSocket(ctx context.Context, path string, exited <-chan struct{}) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	defer func() { _ = unix.Close(fd) }()
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ATTRIB); err != nil {
		return fmt.Errorf("watch %s: %w", filepath.Dir(path), err)
	}
	buf := make([]byte, 4096)
	for {
		// Checked after the watch is in place, so no creation is missed.
		if err := dialOnce(ctx, path); err == nil {
			return nil
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("socket %s did not appear: %w", path, ctx.Err())
		default:
		}
		// Wake on a directory event, or after a short slice to notice
		// exit and cancellation (and a socket that exists but does not
		// listen yet: bind comes before listen).
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, 10); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll inotify: %w", err)
		}
		for {
			if n, _ := unix.Read(fd, buf); n <= 0 {
				break
			}
		}
	}
}

func dialOnce(ctx context.Context, path string) error {
	d := net.Dialer{Timeout: 100 * time.Millisecond}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return err
	}
	return c.Close()
}
