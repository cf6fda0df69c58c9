package mainproc

import (
	"context"
	"sync"
)

// Stream ids in the buffer.
const (
	Stdout = 1
	Stderr = 2
)

type chunk struct {
	stream int
	data   []byte
}

// buffer holds the main process's output, in order, until a host reads it.
// It is bounded: with ring false a full buffer blocks the writer (the
// process waits for a host: lossless, for `banger run`); with ring true the
// oldest output is dropped (a detached VM's log that nobody may read).
type buffer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	chunks  []chunk
	size    int
	limit   int
	ring    bool
	writers int // open writers; 0 = no more output
	dropped int64
	wake    chan struct{} // closed and replaced on every change, for select
}

func newBuffer(limit int, ring bool, writers int) *buffer {
	b := &buffer{limit: limit, ring: ring, writers: writers, wake: make(chan struct{})}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *buffer) changed() {
	b.cond.Broadcast()
	close(b.wake)
	b.wake = make(chan struct{})
}

// write appends p (copied) to stream; see the type's comment for a full
// buffer.
func (b *buffer) write(stream int, p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !b.ring && b.size > 0 && b.size+len(p) > b.limit {
		b.cond.Wait()
	}
	b.chunks = append(b.chunks, chunk{stream, append([]byte(nil), p...)})
	b.size += len(p)
	for b.ring && b.size > b.limit && len(b.chunks) > 1 {
		b.size -= len(b.chunks[0].data)
		b.dropped += int64(len(b.chunks[0].data))
		b.chunks = b.chunks[1:]
	}
	b.changed()
}

// closeWriter records that one writer reached EOF.
func (b *buffer) closeWriter() {
	b.mu.Lock()
	b.writers--
	b.changed()
	b.mu.Unlock()
}

// next returns the oldest chunk, waiting for one; ok is false once every
// writer closed and the buffer is empty, err is ctx's when it ends first.
func (b *buffer) next(ctx context.Context) (c chunk, ok bool, err error) {
	b.mu.Lock()
	for len(b.chunks) == 0 && b.writers > 0 {
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			return chunk{}, false, ctx.Err()
		case <-wake:
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if len(b.chunks) == 0 {
		return chunk{}, false, nil
	}
	c = b.chunks[0]
	b.chunks = b.chunks[1:]
	b.size -= len(c.data)
	b.changed()
	return c, true, nil
}

// unshift puts back a chunk a host failed to receive.
func (b *buffer) unshift(c chunk) {
	b.mu.Lock()
	b.chunks = append([]chunk{c}, b.chunks...)
	b.size += len(c.data)
	b.changed()
	b.mu.Unlock()
}
