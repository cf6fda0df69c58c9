package events

import (
	"context"
	"fmt"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Bound is one end of a stream: a sequence number (SeqBound) or a time
// (TimeBound); the zero Bound is none.
type Bound struct {
	Seq  uint64
	Time time.Time
	set  bool
}

// SeqBound is the bound at sequence number n (since=0 is every kept
// event).
func SeqBound(n uint64) Bound { return Bound{Seq: n, set: true} }

// TimeBound is the bound at t.
func TimeBound(t time.Time) Bound { return Bound{Time: t, set: true} }

// IsZero reports whether b bounds nothing.
func (b Bound) IsZero() bool { return !b.set }

// bySeq reports whether b is a sequence number.
func (b Bound) bySeq() bool { return b.set && b.Time.IsZero() }

func (b Bound) String() string {
	switch {
	case b.bySeq():
		return fmt.Sprint(b.Seq)
	case b.set:
		return b.Time.Format(time.RFC3339Nano)
	}
	return ""
}

// Query is what a stream sends: the events after Since up to Until that
// Filter takes. Without Since the stream starts with the next event (or,
// with Until, the oldest kept); without Until it goes on until the caller
// stops it.
type Query struct {
	Since, Until Bound
	Filter       Filter
}

// Lost says that events the query asked for are no longer kept: From
// through To (From is 0 when a time was asked, whose first sequence
// number the journal no longer knows).
type Lost struct {
	From, To uint64
	// Retain is how many events the journal keeps.
	Retain int
}

// Line is one thing a stream sends: an event, or a Lost notice.
type Line struct {
	Event *Event
	Lost  *Lost
}

// replayPage is how many kept events a replay reads per transaction.
const replayPage = 256

// Stream subscribes to q and runs the subscription (Subscribe, Run).
func (j *Journal) Stream(ctx context.Context, q Query, send func(Line) error) (uint64, error) {
	sub, err := j.Subscribe(q)
	if err != nil {
		return q.Since.Seq, err
	}
	return sub.Run(ctx, send)
}

// Subscription is a stream subscribed to and not yet run: every event
// published from now on reaches it.
type Subscription struct {
	j    *Journal
	q    Query
	sub  *subscriber
	last uint64
}

// Subscribe takes the live events q asks for from now on, before Run
// reads what is kept, so nothing published meanwhile is missed. A Since
// after the last event (a journal the client never saw) is
// errdefs.ErrInvalid; a closed journal ErrClosed.
func (j *Journal) Subscribe(q Query) (*Subscription, error) {
	// The live side also takes the event Until names, so a filtered
	// stream learns that it is over.
	sub, last, err := j.subscribe(func(e Event) bool {
		return q.Filter.Match(e) || (q.Until.bySeq() && e.Seq >= q.Until.Seq)
	})
	if err != nil {
		return nil, resumeErr(err, q.Since.Seq)
	}
	if q.Since.Seq > last {
		j.unsubscribe(sub)
		return nil, fmt.Errorf("%w: since %d is after the last event, %d: this daemon's journal is not the one that sequence came from; subscribe without since", errdefs.ErrInvalid, q.Since.Seq, last)
	}
	return &Subscription{j: j, q: q, sub: sub, last: last}, nil
}

// Close drops a subscription that will not run.
func (s *Subscription) Close() { s.j.unsubscribe(s.sub) }

// Run sends the subscription's events to send: the kept ones first, then
// the live ones, each once and in order (it drops what it already sent);
// a gap (asked for, no longer kept) is a Lost line in its place. It
// returns the sequence number the stream covered (every event up to it
// was sent or filtered out: where to resume), and nil once Until is
// reached or ctx ends; ErrFellBehind or ErrClosed (wrapped with where to
// resume) when the live side ended; send's error as it is. It closes the
// subscription.
func (s *Subscription) Run(ctx context.Context, send func(Line) error) (uint64, error) {
	defer s.Close()
	j, q, sub, last := s.j, s.q, s.sub, s.last
	st := streamState{q: q, send: send, sent: last}
	if !q.Since.IsZero() || !q.Until.IsZero() {
		st.sent = q.Since.Seq
		if err := j.replay(&st, last); err != nil || st.done {
			return st.sent, err
		}
	}
	if st.reached(j.opts.Now()) {
		return st.sent, nil
	}
	var until <-chan time.Time
	if !q.Until.Time.IsZero() {
		t := time.NewTimer(time.Until(q.Until.Time))
		defer t.Stop()
		until = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return st.sent, nil
		case <-until:
			return st.sent, nil
		case e, ok := <-sub.c:
			if !ok {
				return st.sent, resumeErr(sub.err, st.sent)
			}
			if e.Seq <= st.sent {
				continue
			}
			if err := st.event(e); err != nil || st.done {
				return st.sent, err
			}
		}
	}
}

// resumeErr says where to resume a stream that ended early.
func resumeErr(err error, seq uint64) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w; resume with since=%d", errdefs.ErrUnavailable, err, seq)
}

// streamState is a stream's progress: the last sequence number sent (or
// passed over by the filter), and whether Until was reached.
type streamState struct {
	q    Query
	send func(Line) error
	sent uint64
	done bool
}

// event sends e if the query takes it, or marks the stream done past Until.
func (st *streamState) event(e Event) error {
	u := st.q.Until
	if (u.bySeq() && e.Seq > u.Seq) || (!u.Time.IsZero() && e.Time.After(u.Time)) {
		st.done = true
		return nil
	}
	st.sent = e.Seq
	st.done = u.bySeq() && e.Seq >= u.Seq
	if e.Time.Before(st.q.Since.Time) || !st.q.Filter.Match(e) {
		return nil
	}
	return st.send(Line{Event: &e})
}

// reached reports whether Until is behind the stream: its sequence number
// sent, or its time past.
func (st *streamState) reached(now time.Time) bool {
	u := st.q.Until
	return st.done || (u.bySeq() && st.sent >= u.Seq) || (!u.Time.IsZero() && !now.Before(u.Time))
}

// replay sends the kept events after st.sent up to last, announcing what
// is no longer kept: before the oldest, or trimmed while it read.
func (j *Journal) replay(st *streamState, last uint64) error {
	oldest, err := j.oldest()
	if err != nil {
		return err
	}
	if oldest == 0 {
		oldest = last + 1
	}
	switch {
	case st.q.Since.IsZero():
		// Only Until: everything kept up to it.
		st.sent = oldest - 1
	case !st.q.Since.Time.IsZero() && oldest > 1:
		// Events before the oldest kept were dropped; some may be after
		// the time asked for. Tell, unless the oldest kept is before it.
		if first, err := j.page(oldest, 1); err == nil && len(first) == 1 && first[0].Time.After(st.q.Since.Time) {
			if err := st.send(Line{Lost: &Lost{To: oldest - 1, Retain: j.opts.Retain}}); err != nil {
				return err
			}
		}
		st.sent = oldest - 1
	}
	for st.sent < last && !st.done {
		evs, err := j.page(st.sent+1, replayPage)
		if err != nil {
			return err
		}
		next := last + 1
		if len(evs) > 0 {
			next = evs[0].Seq
		}
		if next > st.sent+1 {
			if err := st.send(Line{Lost: &Lost{From: st.sent + 1, To: min(next, last+1) - 1, Retain: j.opts.Retain}}); err != nil {
				return err
			}
		}
		st.sent = min(next-1, last)
		for _, e := range evs {
			if e.Seq > last {
				break
			}
			if err := st.event(e); err != nil || st.done {
				return err
			}
		}
	}
	return nil
}
