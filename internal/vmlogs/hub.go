package vmlogs

import (
	"io"
	"sync"
	"time"
)

// Size is a terminal's size.
type Size struct{ Rows, Cols int }

// Hub is one VM's output: the log file and the live subscribers. Every
// entry is written to the file and handed to each subscriber under one
// lock, so a subscriber that read the file's backlog under that lock
// sees each entry exactly once.
type Hub struct {
	path string
	lim  Limits
	now  func() time.Time
	// splitMu serializes the line splitters' writes.
	splitMu sync.Mutex

	// report is told of the first failure to keep a session's output in
	// the file (the live subscribers still get it).
	report func(error)

	mu      sync.Mutex
	file    *File // open while a session runs
	fileErr error // the session's first file failure, reported
	subs    map[*Sub]struct{}
	running bool
	started time.Time
	// attached is closed once the agent accepted an attachment in this
	// session.
	attached     chan struct{}
	attachedOnce *sync.Once

	stdinR *io.PipeReader
	stdinW *io.PipeWriter
	sizes  chan Size
}

func newHub(path string, lim Limits, now func() time.Time, report func(error)) *Hub {
	return &Hub{path: path, lim: lim.norm(), now: now, report: report, subs: map[*Sub]struct{}{}}
}

// begin opens a session: the file, and stdin and resize channels.
func (h *Hub) begin(started time.Time, stdin bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.running, h.started = true, started
	h.attached, h.attachedOnce = make(chan struct{}), &sync.Once{}
	h.file, h.fileErr = OpenFile(h.path, h.lim)
	if h.fileErr != nil {
		h.report(h.fileErr)
	}
	h.stdinR, h.stdinW = nil, nil
	if stdin {
		h.stdinR, h.stdinW = io.Pipe()
	}
	h.sizes = make(chan Size, 1)
}

// write keeps e: in the file and for every subscriber (a slow one is
// dropped, never waited for).
func (h *Hub) write(e Entry) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file != nil {
		if err := h.file.Write(e); err != nil && h.fileErr == nil {
			h.fileErr = err
			h.report(err)
		}
	}
	for s := range h.subs {
		if !s.push(Event{Entry: e}) {
			delete(h.subs, s)
		}
	}
}

// end closes the session: each subscriber gets exit (nil: ended without
// a status) and leaves.
func (h *Hub) end(exit *Exit) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return
	}
	h.running = false
	if h.file != nil {
		_ = h.file.Close()
		h.file = nil
	}
	if h.stdinW != nil {
		_ = h.stdinW.Close()
	}
	for s := range h.subs {
		if exit != nil {
			s.push(Event{Exit: exit})
		} else {
			s.end(ErrEnded)
		}
		delete(h.subs, s)
	}
}

// SubOptions say what a subscription gets.
type SubOptions struct {
	// Backlog, when set, selects the kept entries the subscription
	// returns first; Session narrows it to the current session's.
	Backlog *Query
	Session bool
	// Follow subscribes to what comes next; Next allows it while no
	// session runs (the next one's output: a `run` subscribes before the
	// start).
	Follow, Next bool
}

// subscribe returns the backlog and, with Follow, a subscriber that gets
// every later entry. Without a running session (and without Next) the
// subscriber is nil.
func (h *Hub) subscribe(o SubOptions) ([]Entry, *Sub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var backlog []Entry
	if o.Backlog != nil {
		q := *o.Backlog
		if o.Session && h.running && q.Since.Before(h.started) {
			q.Since = h.started
		}
		var err error
		if backlog, err = ReadLog(h.path, h.lim.MaxFiles, q); err != nil {
			return nil, nil, err
		}
	}
	if !o.Follow || (!h.running && !o.Next) {
		return backlog, nil, nil
	}
	s := newSub(h)
	h.subs[s] = struct{}{}
	return backlog, s, nil
}

func (h *Hub) unsubscribe(s *Sub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

func (h *Hub) writeStdin(p []byte) (int, error) {
	h.mu.Lock()
	w := h.stdinW
	h.mu.Unlock()
	if w == nil {
		return 0, io.ErrClosedPipe
	}
	return w.Write(p)
}

func (h *Hub) closeStdin() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stdinW != nil {
		_ = h.stdinW.Close()
	}
}

func (h *Hub) resize(rows, cols int) {
	h.mu.Lock()
	sizes := h.sizes
	h.mu.Unlock()
	if sizes == nil {
		return
	}
	select {
	case sizes <- Size{Rows: rows, Cols: cols}:
	default:
	}
}

// accepted records that the agent took the attachment.
func (h *Hub) accepted() {
	h.mu.Lock()
	ch, once := h.attached, h.attachedOnce
	h.mu.Unlock()
	if once != nil {
		once.Do(func() { close(ch) })
	}
}

func (h *Hub) attachState() (bool, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running, h.attached
}

func (h *Hub) isRunning() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running
}
