package volumes

import (
	"fmt"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/hostaccess"
)

// startServed starts cmd in a mount namespace of its own in which the
// shared directory is bind-mounted on root (an empty directory of the
// daemon's), read-only for s.ReadOnly; cmd serves root. Only cmd (and its
// children) see that mount, and it goes with them: nothing is mounted on
// the host, so there is nothing to record or release.
//
// The directory is opened there, as s.Caller (hostaccess.OpenLocked: the
// caller's access checked again, no symlink followed), and what is
// mounted is the opened directory itself (/proc/self/fd/N), never its
// name: a rename or a symlink swapped in after the open cannot change
// what the guest sees. The open must happen inside the namespace, since
// a bind mount's source must be a mount of the caller's namespace.
//
// A new mount namespace can only be entered by a thread, and a child
// forked from that thread inherits it: the work runs on a goroutine locked
// to its thread, which it never unlocks, so the runtime retires the thread
// with the goroutine instead of reusing it elsewhere (its credentials,
// switched for the open, go with it too). The main thread is never used:
// retiring it is not possible, and /proc/self would show its namespace.
func startServed(s Share, root string, cmd *exec.Cmd) error {
	done := make(chan error, 1)
	var work func()
	work = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// The main thread: hand over to another goroutine, which
			// cannot land on this thread while it stays locked here.
			handed := make(chan struct{})
			go func() { work(); close(handed) }()
			<-handed
			runtime.UnlockOSThread()
			return
		}
		done <- servedNS(s, root, cmd)
	}
	go work()
	return <-done
}

// servedNS runs on a locked thread (see startServed).
func servedNS(s Share, root string, cmd *exec.Cmd) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	// Slaves: nothing done here propagates to the host's mounts, while
	// what the host mounts under a shared directory later still appears
	// here (a pod share's container images, mounted after the VM booted,
	// reach virtiofsd and the guest so). Private would cut them off.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make mounts slaves of the host's: %w", err)
	}
	want := hostaccess.Read | hostaccess.Write
	if s.ReadOnly {
		want = hostaccess.Read
	}
	dir, err := hostaccess.OpenLocked(s.Caller, s.Dir, want, hostaccess.Tree)
	if err != nil {
		return err
	}
	defer func() { _ = dir.Close() }()
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(int(dir.Fd())), root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", s.Dir, err)
	}
	if s.ReadOnly {
		if err := unix.Mount("", root, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make %s read-only: %w", s.Dir, err)
		}
	}
	return cmd.Start()
}
