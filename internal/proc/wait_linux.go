package proc

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Wait blocks until the process exits or ctx ends. It works for processes
// that are not our children (an adopted VMM) by polling a pidfd, which
// cannot be fooled by pid reuse once opened. The identity is checked after
// opening the pidfd, closing the reuse window.
func (id Identity) Wait(ctx context.Context) error {
	fd, err := unix.PidfdOpen(id.PID, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("pidfd_open %d: %w", id.PID, err)
	}
	defer func() { _ = unix.Close(fd) }()
	if !id.Alive() {
		return nil
	}
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll pidfd %d: %w", id.PID, err)
		}
		if n > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Signal sends sig to the process only if it is still the recorded one.
func (id Identity) Signal(sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(id.PID, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return nil
		}
		return fmt.Errorf("pidfd_open %d: %w", id.PID, err)
	}
	defer func() { _ = unix.Close(fd) }()
	if !id.Alive() {
		return nil
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %d: %w", id.PID, err)
	}
	return nil
}

// Kill sends SIGKILL and waits up to timeout for the process to go.
func (id Identity) Kill(timeout time.Duration) error {
	if err := id.Signal(unix.SIGKILL); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := id.Wait(ctx); err != nil {
		return fmt.Errorf("process %d did not exit after SIGKILL: %w", id.PID, err)
	}
	return nil
}
