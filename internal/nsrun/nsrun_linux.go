package nsrun

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// nsfsMagic is NSFS_MAGIC, the file system of namespace files.
const nsfsMagic = 0x6e736673

// NS is an open network namespace.
type NS struct {
	h netns.NsHandle
	// Inode identifies the namespace (`ip netns identify`, the N of
	// "net:[N]"): a path that later names another namespace, or none,
	// has another inode.
	Inode uint64
}

// Open opens the network namespace at path. A path that does not exist
// wraps errdefs.ErrNotFound; one that is not a network namespace,
// errdefs.ErrInvalid.
func Open(path string) (*NS, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if errors.Is(err, unix.ELOOP) {
		// /proc/PID/ns/net is a magic symlink: follow it, it cannot be
		// a FIFO.
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("network namespace %s: %w", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	var fs unix.Statfs_t
	var st unix.Stat_t
	if err := errors.Join(unix.Fstatfs(fd, &fs), unix.Fstat(fd, &st)); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	if fs.Type != nsfsMagic {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("%s: %w: not a namespace file; want a network namespace such as /var/run/netns/NAME or /proc/PID/ns/net", path, errdefs.ErrInvalid)
	}
	ns := &NS{h: netns.NsHandle(fd), Inode: st.Ino}
	// The kind of namespace shows only when entering it: setns with
	// CLONE_NEWNET refuses another kind with EINVAL.
	return ns, nil
}

// Close closes the namespace's descriptor.
func (ns *NS) Close() error { return ns.h.Close() }

// Do runs fn on a thread inside ns and returns its error.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("this thread's network namespace: %w", err)
			return
		}
		defer own.Close()
		if err := netns.Set(ns.h); err != nil {
			runtime.UnlockOSThread()
			if errors.Is(err, unix.EINVAL) {
				err = fmt.Errorf("%w: not a network namespace", errdefs.ErrInvalid)
			}
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := netns.Set(own); err != nil {
			// Leave the thread locked: it ends with this goroutine
			// instead of serving others inside ns.
			errc <- errors.Join(ferr, fmt.Errorf("return to the daemon's network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Net opens the namespace at path, runs fn inside it and closes it.
func Net(path string, fn func() error) error {
	ns, err := Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	return ns.Do(fn)
}
