package containershim

import (
	"context"
	"sync"

	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/runtime"
	"github.com/containerd/log"
)

// eventQueue publishes a task's events in the order they were sent, off
// the caller's goroutine: a task API call never waits for containerd to
// take an event, and TaskExit cannot overtake TaskStart.
type eventQueue struct {
	mu     sync.Mutex
	closed bool
	ch     chan any
	done   chan struct{}
}

// newEventQueue starts publishing through p until close.
func newEventQueue(ctx context.Context, p events.Publisher) *eventQueue {
	q := &eventQueue{ch: make(chan any, 128), done: make(chan struct{})}
	go func() {
		defer close(q.done)
		for e := range q.ch {
			if err := p.Publish(ctx, runtime.GetTopic(e), e); err != nil {
				log.G(ctx).WithError(err).Error("publish event")
			}
		}
	}()
	return q
}

// send queues an event (a containerd events type: *events.TaskCreate, …).
// An event sent after close is dropped: the shim is shutting down.
func (q *eventQueue) send(e any) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.ch <- e
	}
}

// close publishes what is queued and stops.
func (q *eventQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
}
