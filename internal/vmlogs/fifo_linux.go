package vmlogs

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// openFIFO opens the FIFO at path with flag (O_RDONLY or O_WRONLY), which
// blocks until its other end is opened, in a goroutine, so only this
// call waits; when ctx ends first it returns ctx's error. The FIFO is
// held by an O_PATH descriptor and opened through /proc/self/fd, so a
// canceled open can always be released by opening the other end for a
// moment, even when the path was removed meanwhile.
func openFIFO(ctx context.Context, path string, flag int) (*os.File, error) {
	h, err := os.OpenFile(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = h.Close() }()
	proc := fmt.Sprintf("/proc/self/fd/%d", h.Fd())
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := os.OpenFile(proc, flag|unix.O_CLOEXEC, 0)
		done <- result{f, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("open %s: %w", path, r.err)
		}
		return r.f, nil
	case <-ctx.Done():
	}
	other := unix.O_WRONLY
	if flag&(unix.O_WRONLY|unix.O_RDWR) != 0 {
		other = unix.O_RDONLY
	}
	for range 500 {
		if f, err := os.OpenFile(proc, other|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			_ = f.Close()
		}
		select {
		case r := <-done:
			if r.f != nil {
				_ = r.f.Close()
			}
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil, ctx.Err()
}
