package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/store"
)

// Options configure a Journal; zero values take the defaults.
type Options struct {
	// Retain is how many of the latest events the database keeps
	// (events.retain, default DefaultRetain).
	Retain int
	// Buffer is how many events a subscriber may be behind before it is
	// cut off (default DefaultBuffer).
	Buffer int
	Log    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// The defaults of Options.
const (
	DefaultRetain = 10000
	DefaultBuffer = 1024
)

// Journal numbers, keeps and fans out events. It is safe for concurrent
// use.
type Journal struct {
	st   *store.Store
	opts Options

	// mu orders Publish: numbering, the write and the fan-out happen
	// under it, so every subscriber sees events in sequence order and a
	// subscription taken under it sees exactly the events after last.
	mu     sync.Mutex
	last   uint64
	subs   map[*subscriber]struct{}
	closed bool
}

// Open returns the journal kept in st's events bucket, numbering on from
// the last event a previous daemon kept.
func Open(st *store.Store, opts Options) (*Journal, error) {
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j := &Journal{st: st, opts: opts, subs: map[*subscriber]struct{}{}}
	err := st.View(func(tx *store.Tx) error {
		_, last := tx.Bounds(store.Events)
		j.last = store.SeqOf(last)
		var hw uint64
		if err := tx.Get(store.Meta, metaLastSeq, &hw); err == nil && hw > j.last {
			j.last = hw
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open the event journal: %w", err)
	}
	return j, nil
}

// metaLastSeq is the meta record of the last sequence number handed out:
// with every event trimmed away the next one still follows it.
const metaLastSeq = "events.last_seq"

// Last is the sequence number of the latest event (0 before the first).
func (j *Journal) Last() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.last
}

// Publish numbers e, writes it (dropping the oldest past Retain) and
// hands it to every subscriber whose filter takes it. A subscriber whose
// buffer is full is cut off, never waited for. After Close it still
// writes (a VM may exit while the daemon shuts down: the next daemon's
// clients resume onto it), while the store is open.
func (j *Journal) Publish(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e = e.Clone()
	j.last++
	e.Seq = j.last
	if e.Time.IsZero() {
		e.Time = j.opts.Now()
	}
	e.Time = e.Time.UTC()
	if err := j.write(e); err != nil {
		// The number is used anyway: a subscriber may have it. The next
		// daemon may hand it out again only if this one dies before
		// writing any later event.
		j.opts.Log.Error("event journal: write", "seq", e.Seq, "type", e.Type, "action", e.Action, "id", e.ID, "error", err)
	}
	for s := range j.subs {
		if s.offer(e) {
			continue
		}
		delete(j.subs, s)
		s.end(ErrFellBehind)
	}
}

// write stores e and drops what is past Retain, in one transaction.
func (j *Journal) write(e Event) error {
	raw, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return j.st.Update(func(tx *store.Tx) error {
		if err := tx.PutRaw(store.Events, store.SeqKey(e.Seq), raw); err != nil {
			return err
		}
		if err := tx.Put(store.Meta, metaLastSeq, e.Seq); err != nil {
			return err
		}
		first, _ := tx.Bounds(store.Events)
		for n := store.SeqOf(first); n+uint64(j.opts.Retain) <= e.Seq; n++ {
			if err := tx.Delete(store.Events, store.SeqKey(n)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Close ends every subscription with ErrClosed and refuses new ones;
// later events are only written. The daemon publishes its stop event
// first.
func (j *Journal) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.closed = true
	for s := range j.subs {
		s.end(ErrClosed)
	}
	j.subs = nil
}

// The ends of a stream other than its Query's.
var (
	// ErrFellBehind: the subscriber was more than Options.Buffer events
	// behind.
	ErrFellBehind = errors.New("the reader fell too far behind the events")
	// ErrClosed: the daemon is stopping.
	ErrClosed = errors.New("the daemon is stopping")
)

// subscriber is one stream's live side: a bounded queue of the events its
// filter takes, and why it ended.
type subscriber struct {
	match func(Event) bool
	c     chan Event
	// err is set before c is closed.
	err error
}

// offer queues e when the filter takes it; false means the queue is full.
func (s *subscriber) offer(e Event) bool {
	if !s.match(e) {
		return true
	}
	select {
	case s.c <- e:
		return true
	default:
		return false
	}
}

func (s *subscriber) end(err error) {
	s.err = err
	close(s.c)
}

// subscribe registers a subscriber and returns it with the last sequence
// number published before it: it receives exactly the later ones.
func (j *Journal) subscribe(match func(Event) bool) (*subscriber, uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, 0, ErrClosed
	}
	s := &subscriber{match: match, c: make(chan Event, j.opts.Buffer)}
	j.subs[s] = struct{}{}
	return s, j.last, nil
}

// unsubscribe drops s (when it is still subscribed).
func (j *Journal) unsubscribe(s *subscriber) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.subs[s]; ok {
		delete(j.subs, s)
		s.end(nil)
	}
}

// page reads up to n kept events from seq from on, in order.
func (j *Journal) page(from uint64, n int) ([]Event, error) {
	var out []Event
	err := j.st.View(func(tx *store.Tx) error {
		return tx.Seek(store.Events, store.SeqKey(from), func(_ string, raw []byte) (bool, error) {
			var e Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return false, fmt.Errorf("decode a kept event: %w", err)
			}
			out = append(out, e)
			return len(out) < n, nil
		})
	})
	return out, err
}

// oldest is the sequence number of the oldest kept event (0 when none is).
func (j *Journal) oldest() (uint64, error) {
	var first string
	err := j.st.View(func(tx *store.Tx) error {
		first, _ = tx.Bounds(store.Events)
		return nil
	})
	return store.SeqOf(first), err
}
