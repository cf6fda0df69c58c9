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
//
// The path is resolved with O_PATH first, which opens nothing (a FIFO
// cannot block, a device's open cannot act), and checked to be a
// namespace file before it is opened for reading.
func Open(path string) (*NS, error) {
	pfd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("network namespace %s: %w: no such file (`ip netns` names NAME /var/run/netns/NAME; a process's is /proc/PID/ns/net)", path, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(pfd) //nolint:errcheck // an O_PATH descriptor
	var fs unix.Statfs_t
	var st unix.Stat_t
	if err := errors.Join(unix.Fstatfs(pfd, &fs), unix.Fstat(pfd, &st)); err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", path, err)
	}
	if fs.Type != nsfsMagic {
		return nil, fmt.Errorf("%s: %w: not a namespace file; want a network namespace such as /var/run/netns/NAME or /proc/PID/ns/net", path, errdefs.ErrInvalid)
	}
	// setns takes no O_PATH descriptor: open the very file it names.
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	// The kind of namespace shows only when entering it: setns with
	// CLONE_NEWNET refuses another kind with EINVAL.
	return &NS{h: netns.NsHandle(fd), Inode: st.Ino}, nil
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
