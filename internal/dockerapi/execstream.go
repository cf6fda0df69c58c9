package dockerapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// hijacked is a connection taken over (hijack) for an exec's streams
// both ways: in is what the client sends (with what the server had
// buffered), and the writers frame what the process prints.
type hijacked struct {
	conn net.Conn
	in   *bufio.Reader
	mu   sync.Mutex // one frame at a time on conn
}

// hijackExec answers an exec start's upgrade as attach does: the
// content type Docker gives the stream (tty: raw; else multiplexed from
// API 1.42 on), then the connection is the exec's.
func hijackExec(w http.ResponseWriter, r *http.Request, tty bool) (*hijacked, error) {
	conn, buf, err := hijack(w, r, streamType(tty, requestVersion(r)))
	if err != nil {
		return nil, err
	}
	return &hijacked{conn: conn, in: buf.Reader}, nil
}

// Read reads what the client sends.
func (h *hijacked) Read(p []byte) (int, error) { return h.in.Read(p) }

// stream is a writer of one of the multiplexed streams (stdcopy.Stdout,
// Stderr).
func (h *hijacked) stream(kind stdcopy.StdType) io.Writer {
	return &streamWriter{h: h, kind: kind}
}

// raw is a writer of the raw stream (a TTY's).
func (h *hijacked) raw() io.Writer { return &streamWriter{h: h, raw: true} }

// close ends the stream: what was written is flushed, then the
// connection closes.
func (h *hijacked) close() {
	if c, ok := h.conn.(interface{ CloseWrite() error }); ok {
		_ = c.CloseWrite()
	}
	_ = h.conn.Close()
}

// streamWriter writes to a hijacked connection, framed for its stream
// unless raw. A client that went away does not stop the process whose
// output it was: later writes are dropped, never failed, so the
// process's output keeps draining.
type streamWriter struct {
	h    *hijacked
	kind stdcopy.StdType
	raw  bool
	gone bool
}

func (s *streamWriter) Write(p []byte) (int, error) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.gone || len(p) == 0 {
		return len(p), nil
	}
	buf := p
	if !s.raw {
		buf = frame(s.kind, p)
	}
	if _, err := s.h.conn.Write(buf); err != nil {
		s.gone = true
	}
	return len(p), nil
}
