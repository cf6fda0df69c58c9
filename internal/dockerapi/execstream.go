package dockerapi

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// The content types of a hijacked stream: raw with a TTY, Docker's
// multiplexed framing without.
const (
	contentRawStream         = "application/vnd.docker.raw-stream"
	contentMultiplexedStream = "application/vnd.docker.multiplexed-stream"
)

// hijacked is a connection taken over from the HTTP server for a
// stream both ways (exec start, attach): in is what the client sends
// (including what the server had buffered), out what it receives.
type hijacked struct {
	conn net.Conn
	in   *bufio.Reader
	mu   sync.Mutex // one frame at a time on conn
}

// hijackStream answers the request as Docker does before a stream: 101
// UPGRADED when the client asked for the upgrade (Upgrade: tcp), else
// 200, with the stream's content type; the connection is then the
// stream's.
func hijackStream(w http.ResponseWriter, r *http.Request, multiplexed bool) (*hijacked, error) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, fmt.Errorf("take over the connection: %w", err)
	}
	ctype := contentRawStream
	if multiplexed {
		ctype = contentMultiplexedStream
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: " + ctype + "\r\n"
	if strings.EqualFold(r.Header.Get("Upgrade"), "tcp") {
		head = "HTTP/1.1 101 UPGRADED\r\nContent-Type: " + ctype + "\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
	}
	head += "Api-Version: " + APIVersion + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &hijacked{conn: conn, in: rw.Reader}, nil
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
// when multiplexed. A client that went away does not stop the process
// whose output it was: later writes are dropped, never failed, so the
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
		buf = streamFrame(s.kind, p)
	}
	if _, err := s.h.conn.Write(buf); err != nil {
		s.gone = true
	}
	return len(p), nil
}

// streamFrame is p as one frame of Docker's multiplexed stream: the stream's
// number, three zero bytes, the length (big-endian), the bytes.
func streamFrame(kind stdcopy.StdType, p []byte) []byte {
	out := make([]byte, 8+len(p))
	out[0] = byte(kind)
	binary.BigEndian.PutUint32(out[4:8], uint32(len(p))) //nolint:gosec // a write is far below 4 GiB
	copy(out[8:], p)
	return out
}
