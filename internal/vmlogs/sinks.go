package vmlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/hostaccess"
)

// SinkBuffer bounds what an output path may fall behind by, in bytes:
// past it the daemon's copy waits for the path's reader (a FIFO nobody
// reads holds the output back, as a container's would), and the guest
// agent buffers meanwhile. The log file and live readers are written
// first and never wait.
const SinkBuffer = 4 << 20

// How long a session's end waits for its output paths to take what is
// queued: after the main process exited, and when the daemon only
// detaches (the next one continues where this one stopped).
const (
	drainAtExit   = 10 * time.Second
	drainAtDetach = 2 * time.Second
)

// sinks are one session's open Stdio paths.
type sinks struct {
	stdout, stderr *sink
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	// leaving is closed when the daemon detaches: a write no longer
	// waits for a slow path's reader (what does not fit is dropped), so
	// the attachment can end.
	leaving   chan struct{}
	leaveOnce sync.Once
}

// openSinks opens s's paths for one session. A regular file is opened
// (created, appended) here, so a path that cannot be opened fails the
// session's start with the path named; a FIFO is opened in the
// background, as its other end may come later. stdin, when not nil, gets
// what the stdin path gives and is closed at its end.
func openSinks(s Stdio, caller hostaccess.Caller, own []string, stdin io.WriteCloser, report func(error)) (*sinks, error) {
	ctx, cancel := context.WithCancel(context.Background())
	k := &sinks{cancel: cancel, leaving: make(chan struct{})}
	fail := func(err error) (*sinks, error) {
		k.finish(0)
		return nil, err
	}
	for _, p := range s.streams() {
		if p[0] == "stdin" && stdin == nil {
			continue
		}
		r, err := resolve(p[0], p[1], own)
		if err != nil {
			return fail(err)
		}
		open, err := r.opener(caller)
		if err != nil {
			return fail(err)
		}
		if r.stream == "stdin" {
			k.wg.Go(func() { feed(ctx, open, stdin, report) })
			continue
		}
		out := &sink{path: r.path, report: report, wake: make(chan struct{}, 1), space: make(chan struct{}, 1), leaving: k.leaving}
		if r.stream == "stdout" {
			k.stdout = out
		} else {
			k.stderr = out
		}
		k.wg.Go(func() { out.run(ctx, open) })
	}
	return k, nil
}

// opener returns how to open the path: a regular file is opened now (the
// error names it), a FIFO when the returned function runs. Either is
// first opened as caller (hostaccess.Open: their access, no symlink, a
// missing file created as them), and then reopened through that open
// file, so what is written or read is what was checked.
func (r resolved) opener(caller hostaccess.Caller) (func(context.Context) (*os.File, error), error) {
	flag, want := os.O_WRONLY|os.O_APPEND, hostaccess.Write
	if r.stream == "stdin" {
		flag, want = os.O_RDONLY, hostaccess.Read
	}
	h, err := hostaccess.Open(caller, r.path, want, hostaccess.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.stream, err) // err names the path
	}
	self := "/proc/self/fd/" + strconv.Itoa(int(h.Fd()))
	if r.fifo {
		return func(ctx context.Context) (*os.File, error) {
			defer func() { _ = h.Close() }()
			return openFIFO(ctx, self, flag&^os.O_APPEND)
		}, nil
	}
	defer func() { _ = h.Close() }()
	f, err := os.OpenFile(self, flag, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", r.stream, r.path, err)
	}
	return func(context.Context) (*os.File, error) { return f, nil }, nil
}

// feed copies the stdin path to w until its end (then w closes: the main
// process reads EOF) or ctx's.
func feed(ctx context.Context, open func(context.Context) (*os.File, error), w io.WriteCloser, report func(error)) {
	f, err := open(ctx)
	if err != nil {
		if ctx.Err() == nil {
			report(fmt.Errorf("stdin: %w", err))
		}
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	defer stop()
	_, err = io.Copy(w, f)
	_ = f.Close()
	if ctx.Err() == nil {
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			report(fmt.Errorf("stdin %s: %w", f.Name(), err))
		}
		_ = w.Close()
	}
}

// tee adds the session's sinks to an attachment's output streams. With
// a TTY everything is stdout, as in the log.
func (k *sinks) tee(st Streams) Streams {
	if k.stdout != nil {
		st.Stdout = teeWriter{st.Stdout, k.stdout}
	}
	if k.stderr != nil {
		st.Stderr = teeWriter{st.Stderr, k.stderr}
	}
	return st
}

// leave stops writes from waiting for a path's reader (the daemon
// detaches).
func (k *sinks) leave() { k.leaveOnce.Do(func() { close(k.leaving) }) }

// finish ends the session's paths: each output path gets what is queued
// within wait, then everything closes (a FIFO's reader sees EOF).
func (k *sinks) finish(wait time.Duration) {
	k.leave()
	for _, s := range []*sink{k.stdout, k.stderr} {
		if s != nil {
			s.close()
		}
	}
	done := make(chan struct{})
	go func() { k.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	k.cancel()
	<-done
}

// teeWriter writes to w (the log: never waits) and then to the sink.
type teeWriter struct {
	w    io.Writer
	sink *sink
}

func (t teeWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.sink.write(p)
	return n, err
}

// sink is one output path: what the session writes is queued and copied
// to the path by run.
type sink struct {
	path   string
	report func(error)

	mu     sync.Mutex
	queue  [][]byte
	size   int
	closed bool // no more writes: run drains and ends
	failed bool // the path failed: writes are dropped
	wake   chan struct{}
	space  chan struct{}
	// leaving is the sinks' (see there).
	leaving <-chan struct{}
}

// write queues a copy of p, waiting while SinkBuffer bytes are queued.
func (s *sink) write(p []byte) {
	if len(p) == 0 {
		return
	}
	for {
		s.mu.Lock()
		if s.closed || s.failed {
			s.mu.Unlock()
			return
		}
		if s.size == 0 || s.size+len(p) <= SinkBuffer {
			s.queue = append(s.queue, append([]byte(nil), p...))
			s.size += len(p)
			s.mu.Unlock()
			signal(s.wake)
			return
		}
		s.mu.Unlock()
		select {
		case <-s.space:
		case <-s.leaving:
			return
		}
	}
}

func (s *sink) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	signal(s.wake)
	signal(s.space)
}

// fail drops what is queued and what comes; the first failure is reported.
func (s *sink) fail(err error) {
	s.mu.Lock()
	first := !s.failed
	s.failed, s.queue, s.size = true, nil, 0
	s.mu.Unlock()
	signal(s.space)
	if first {
		s.report(fmt.Errorf("%s: %w", s.path, err))
	}
}

// run opens the path and copies the queue to it until the sink is closed
// and drained, or ctx ends (a write blocked on a FIFO's reader included).
func (s *sink) run(ctx context.Context, open func(context.Context) (*os.File, error)) {
	f, err := open(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.fail(err)
		}
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = f.Close() })
	defer stop()
	defer func() { _ = f.Close() }()
	for {
		s.mu.Lock()
		var next []byte
		if len(s.queue) > 0 {
			next = s.queue[0]
		}
		closed := s.closed
		s.mu.Unlock()
		if next == nil {
			if closed {
				return
			}
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if _, err := f.Write(next); err != nil {
			if ctx.Err() == nil {
				s.fail(err)
			}
			return
		}
		s.mu.Lock()
		if len(s.queue) > 0 {
			s.queue = s.queue[1:]
			s.size -= len(next)
		}
		s.mu.Unlock()
		signal(s.space)
	}
}

// signal wakes a waiter of ch (a one-slot channel) without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
