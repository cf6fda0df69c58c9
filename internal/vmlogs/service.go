package vmlogs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/hostaccess"
)

// Streams are one attachment's ends, as the agent client takes them.
type Streams struct {
	// Stdin is nil when the main process has no stdin open.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Resize carries terminal sizes (a TTY session).
	Resize <-chan Size
	// Accepted is called once the agent took the attachment.
	Accepted func()
}

// Source attaches to a VM's main process (through its guest agent) and
// returns its exit status once it ended and its output was delivered.
// When ctx ends it only detaches. An error means the attachment broke
// (the connection, a refusal); the service retries.
type Source interface {
	AttachMain(ctx context.Context, s Streams) (int, error)
}

// maxRetry bounds the pause between attach attempts.
const maxRetry = 5 * time.Second

// Session describes one run of a VM's main process.
type Session struct {
	Source Source
	// Started is when the run started: attach shows the output since.
	Started time.Time
	// Stdin says the main process's stdin is open (run -i).
	Stdin bool
	// TTY says it runs on a terminal.
	TTY bool
	// Stdio are host paths the output is copied to and stdin read from
	// (sinks.go).
	Stdio Stdio
	// Caller is whose access the Stdio paths are opened with (package
	// hostaccess: checked again, no symlink followed, a missing output
	// file created as them); hostaccess.Root for the daemon's own.
	Caller hostaccess.Caller
	// Adopted says a new daemon continues a run an earlier one began:
	// the guest closed the main process's pipe stdin when that daemon
	// left, so the stdin path is not read again.
	Adopted bool
}

// Service holds every VM's hub and the daemon's attachment to each
// running VM's main process.
type Service struct {
	// Path is a VM's log file.
	Path   func(vmID string) string
	Limits Limits
	Log    *slog.Logger
	// Own are banger's directories, where no Stdio path may be.
	Own []string
	// Now is the clock; Retry the pause before re-attaching.
	Now   func() time.Time
	Retry time.Duration

	mu       sync.Mutex
	hubs     map[string]*Hub
	sessions map[string]*running
}

type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *Service) hub(id string) *Hub {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hubs == nil {
		s.hubs = map[string]*Hub{}
	}
	h := s.hubs[id]
	if h == nil {
		now := s.Now
		if now == nil {
			now = time.Now
		}
		h = newHub(s.Path(id), s.Limits, now, func(err error) {
			if s.Log != nil {
				s.Log.Warn("the VM's main process output is not kept in its log file", "vm", id, "error", err)
			}
		})
		s.hubs[id] = h
	}
	return h
}

// Begin starts keeping the VM's main process output: the daemon attaches
// through sess.Source (again after a broken attachment) until the
// process ends or End is called. It fails, starting nothing, when a
// Stdio path cannot be opened; an adopted session (sess.Adopted) starts
// without its paths then, and returns the error too.
func (s *Service) Begin(id string, sess Session) error {
	s.End(id)
	h := s.hub(id)
	stdin := sess.Stdio.Stdin != "" && !sess.Adopted
	h.begin(sess.Started, sess.Stdin || stdin)
	var feed io.WriteCloser
	if stdin {
		feed = h.stdinW
	}
	report := func(err error) {
		if s.Log != nil {
			s.Log.Warn("a stdio path of the VM's main process failed", "vm", id, "error", err)
		}
	}
	// The errors name the stream and path; the caller names the VM.
	k, err := openSinks(sess.Stdio, sess.Caller, s.Own, feed, report)
	if err != nil && !sess.Adopted {
		h.end(nil)
		return err
	}
	if err != nil {
		// The VM runs on: its output must still be kept (a guest whose
		// output nobody takes may block on it).
		err = fmt.Errorf("%w; its output is kept in the log only", err)
		k, _ = openSinks(Stdio{}, hostaccess.Root, nil, nil, report)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[string]*running{}
	}
	s.sessions[id] = r
	s.mu.Unlock()
	go func() {
		defer close(r.done)
		stop := context.AfterFunc(ctx, k.leave)
		s.attach(ctx, id, h, sess, k)
		drain := drainAtExit
		if !stop() {
			drain = drainAtDetach
		}
		k.finish(drain)
	}()
	return err
}

// attach is the daemon's attachment loop.
func (s *Service) attach(ctx context.Context, id string, h *Hub, sess Session, k *sinks) {
	first := s.Retry
	if first <= 0 {
		first = 250 * time.Millisecond
	}
	retry := first
	stdin := h.stdinR
	for {
		out := &lineSplitter{stream: Stdout, emit: h.write, now: h.now}
		errs := &lineSplitter{stream: Stderr, emit: h.write, now: h.now}
		st := k.tee(Streams{Stdout: lockedWriter{h, out}, Stderr: lockedWriter{h, errs}, Resize: h.sizes, Accepted: h.accepted})
		if stdin != nil {
			st.Stdin = stdin
		}
		began := time.Now()
		code, err := sess.Source.AttachMain(ctx, st)
		h.flushSplitters(out, errs)
		if err == nil {
			h.end(&Exit{Code: code})
			return
		}
		// The agent closes a pipe stdin for good when its host goes; a
		// later attachment has none to feed.
		if !sess.TTY && stdin != nil {
			stdin = nil
			h.closeStdin() // a client's input fails instead of waiting forever
		}
		if ctx.Err() != nil {
			h.end(nil)
			return
		}
		if s.Log != nil {
			s.Log.Debug("attach to the main process", "vm", id, "error", err)
		}
		select {
		case <-ctx.Done():
			h.end(nil)
			return
		case <-time.After(retry):
		}
		// A VM without a main process (--init, or none in the image)
		// refuses every attach: back off to a few seconds.
		retry = min(2*retry, maxRetry)
		if time.Since(began) > maxRetry {
			retry = first // it had worked: the connection broke
		}
	}
}

// End stops the attachment (the VM is being released); subscribers still
// waiting for an exit status get ErrEnded.
func (s *Service) End(id string) {
	s.mu.Lock()
	r := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// Forget drops a removed VM's hub.
func (s *Service) Forget(id string) {
	s.End(id)
	s.mu.Lock()
	delete(s.hubs, id)
	s.mu.Unlock()
}

// Close ends every attachment (the daemon stops; the VMs run on).
func (s *Service) Close() {
	s.mu.Lock()
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		s.End(id)
	}
}

// Attached waits up to wait for the daemon's attachment to the VM's main
// process to be accepted in the current session, and says whether it
// was: false when no session runs, or the agent refuses (the VM has no
// main process).
func (s *Service) Attached(id string, wait time.Duration) bool {
	running, ch := s.hub(id).attachState()
	if !running {
		return false
	}
	select {
	case <-ch:
		return true
	case <-time.After(wait):
		return false
	}
}

// Subscribe returns the VM's kept entries o selects and, with o.Follow,
// a subscriber of what comes next (nil when no session runs and o.Next
// is not set).
func (s *Service) Subscribe(id string, o SubOptions) ([]Entry, *Sub, error) {
	return s.hub(id).subscribe(o)
}

// lockedWriter serializes the two streams' splitters on the hub (the
// agent client writes them from two goroutines).
type lockedWriter struct {
	h *Hub
	l *lineSplitter
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.h.splitMu.Lock()
	defer w.h.splitMu.Unlock()
	return w.l.Write(p)
}

func (h *Hub) flushSplitters(ls ...*lineSplitter) {
	h.splitMu.Lock()
	defer h.splitMu.Unlock()
	for _, l := range ls {
		l.flush()
	}
}
