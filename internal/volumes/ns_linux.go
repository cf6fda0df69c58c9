package volumes

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startReadOnly starts cmd in a mount namespace of its own in which dir is
// a read-only bind mount of itself. Only cmd (and its children) see that
// mount, and it goes with them: nothing is mounted on the host, so there
// is nothing to record or release.
//
// A new mount namespace can only be entered by a thread, and a child
// forked from that thread inherits it: the work runs on a goroutine locked
// to its thread, which it never unlocks, so the runtime retires the thread
// with the goroutine instead of reusing it elsewhere. The main thread is
// never used: retiring it is not possible, and /proc/self would show its
// namespace.
func startReadOnly(dir string, cmd *exec.Cmd) error {
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
		done <- readOnlyNS(dir, cmd)
	}
	go work()
	return <-done
}

// readOnlyNS runs on a locked thread (see startReadOnly).
func readOnlyNS(dir string, cmd *exec.Cmd) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare the mount namespace: %w", err)
	}
	// Private, so nothing done here propagates to the host's mounts.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("make %s read-only: %w", dir, err)
	}
	return cmd.Start()
}
