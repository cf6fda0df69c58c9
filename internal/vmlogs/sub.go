package vmlogs

import (
	"context"
	"errors"
	"sync"
)

// SubBuffer bounds what a subscriber may fall behind by, in bytes of
// output. A subscriber that falls further behind is dropped (its Next
// returns ErrSlow): the VM's output never waits for a reader, and the
// file keeps everything.
const SubBuffer = 4 << 20

// ErrSlow is what a dropped subscriber gets.
var ErrSlow = errors.New("vmlogs: this reader fell more than 4 MiB behind the VM's output and was disconnected; the output is kept: see `banger logs`")

// ErrEnded ends a subscription whose session ended without an exit
// status (the VM stopped or the daemon's attachment ended first).
var ErrEnded = errors.New("vmlogs: the main process's output ended without an exit status")

// Exit is how a session ended: the main process's exit status.
type Exit struct{ Code int }

// Event is one entry, or the session's end.
type Event struct {
	Entry Entry
	// Exit is set on the last event of a session that got the exit status.
	Exit *Exit
}

// Sub is a live subscriber of a hub.
type Sub struct {
	hub   *Hub
	mu    sync.Mutex
	queue []Event
	bytes int
	err   error // set once: ErrSlow or ErrEnded; nil after an Exit (Next then says ErrEnded)
	done  bool
	wake  chan struct{}
}

func newSub(h *Hub) *Sub { return &Sub{hub: h, wake: make(chan struct{}, 1)} }

// push queues ev without ever blocking; it reports false when the
// subscriber was dropped for falling behind.
func (s *Sub) push(ev Event) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return false
	}
	if ev.Exit == nil && s.bytes+len(ev.Entry.Data) > SubBuffer {
		s.done, s.err = true, ErrSlow
		s.queue, s.bytes = nil, 0
		s.notify()
		return false
	}
	s.queue = append(s.queue, ev)
	s.bytes += len(ev.Entry.Data)
	if ev.Exit != nil {
		s.done = true
	}
	s.notify()
	return true
}

// end closes the subscription with err after what is queued.
func (s *Sub) end(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done, s.err = true, err
		s.notify()
	}
}

func (s *Sub) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Next returns the next event, waiting for one. After an Exit event, and
// when the subscription ended (ErrSlow, ErrEnded) or ctx did, it returns
// an error.
func (s *Sub) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			ev := s.queue[0]
			s.queue = s.queue[1:]
			s.bytes -= len(ev.Entry.Data)
			s.mu.Unlock()
			return ev, nil
		}
		if s.done {
			err := s.err
			s.mu.Unlock()
			if err == nil {
				err = ErrEnded
			}
			return Event{}, err
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return Event{}, ctx.Err()
		case <-s.wake:
		}
	}
}

// Close leaves the hub.
func (s *Sub) Close() {
	s.hub.unsubscribe(s)
	s.end(ErrEnded)
}

// WriteStdin feeds the main process's stdin (when its VM keeps it open).
func (s *Sub) WriteStdin(p []byte) (int, error) { return s.hub.writeStdin(p) }

// CloseStdin closes the main process's stdin for good (stdin-once).
func (s *Sub) CloseStdin() { s.hub.closeStdin() }

// Resize sets the main process's terminal size (a TTY session).
func (s *Sub) Resize(rows, cols int) { s.hub.resize(rows, cols) }
