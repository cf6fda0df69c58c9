package api

import (
	"io"
	"sync"
)

// FrameWriter writes whole frames to one connection from several
// goroutines (stdin, terminal resizes, closing stdin), one at a time.
type FrameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// NewFrameWriter returns a FrameWriter of w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Send writes one frame.
func (f *FrameWriter) Send(kind FrameKind, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return WriteFrame(f.w, kind, data)
}
