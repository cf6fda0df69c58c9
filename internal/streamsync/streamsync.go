// Package streamsync makes a shared byte stream — a QEMU virtio-serial
// port — safe to reconnect over.
//
// A virtio-serial port is one stream that hosts connect to and hang up
// from. Measured under QEMU 7.2: what the guest writes after a host hangs
// up is buffered and delivered to the next host, and a quick reconnect can
// reach the guest without a read ever returning the hang-up's EOF. Either
// way the next SSH handshake reads the last session's bytes and fails
// ("packet too large", "overflow reading version string").
//
// So each connection starts with a sync exchange that both sides can find
// in a dirty stream:
//
//	host  → guest   "\nBANGER-SYNC <16 hex>\n"
//	guest → host    "\nBANGER-SYNC-OK <16 hex>\n"
//
// The guest discards everything before a sync line, and a sync line in the
// middle of a session ends that session (the host went away and came
// back). The host discards everything before the matching OK line. Only
// then does SSH start, so neither side ever parses the other session's
// bytes. The token makes a stale OK from an earlier attempt worthless.
package streamsync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"time"
)

const (
	syncPrefix = "\nBANGER-SYNC "
	okPrefix   = "\nBANGER-SYNC-OK "
	tokenLen   = 16
	// maxJunk bounds what the host discards while waiting for the OK.
	maxJunk = 1 << 20
)

// SyncLine is the host's sync line for token.
func SyncLine(token string) []byte { return []byte(syncPrefix + token + "\n") }

// OKLine is the guest's answer for token.
func OKLine(token string) []byte { return []byte(okPrefix + token + "\n") }

// NewToken returns a random token.
func NewToken() string {
	b := make([]byte, tokenLen/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Host starts a session on conn: it sends a sync line, discards whatever
// the stream holds until the guest's matching OK, and returns a connection
// that reads on from there. It may be called before the guest is up (the
// line waits in the stream); ctx bounds the wait. On error conn is closed.
func Host(ctx context.Context, conn net.Conn) (net.Conn, error) {
	token := NewToken()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (net.Conn, error) {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("agent stream sync: %w", ctx.Err())
		}
		return nil, fmt.Errorf("agent stream sync: %w", err)
	}
	if _, err := conn.Write(SyncLine(token)); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, 4096)
	want := OKLine(token)
	var window []byte
	for read := 0; ; read++ {
		b, err := br.ReadByte()
		if err != nil {
			return fail(err)
		}
		if read > maxJunk {
			return fail(errors.New("no answer to the sync line in 1 MiB of the guest's output"))
		}
		window = append(window, b)
		if len(window) > len(want) {
			window = window[1:]
		}
		if bytes.Equal(window, want) {
			break
		}
	}
	if !stop() && ctx.Err() != nil {
		return fail(ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufConn{Conn: conn, r: br}, nil
}

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Scanner finds sync lines in the guest's input. Feed it the stream in
// chunks; it says which bytes belong to the current session and where a
// new session starts. Data is never held back, except from a complete
// "\nBANGER-SYNC " on until its line ends: holding back an SSH version
// line's final newline, say, would stall the handshake. A sync line split
// across chunks is still found; the part of it already passed on went to
// the session it ends.
type Scanner struct {
	// hist is the stream's last bytes already passed on (at most the
	// prefix's length less one), to find a prefix spanning chunks.
	hist []byte
	// held is a complete prefix and what followed it, awaiting the token.
	held []byte
}

// Event is what Feed found in a chunk, in stream order.
type Event struct {
	// Data belongs to the current session (none is current before the
	// first Start).
	Data []byte
	// Start is set when a sync line begins a new session; Token is its
	// token, to answer with OKLine.
	Start bool
	Token string
}

// Feed scans the next chunk of the stream.
func (s *Scanner) Feed(chunk []byte) []Event {
	prefix := []byte(syncPrefix)
	// view is hist (already passed on), then bytes not passed on yet.
	view := append(append(append([]byte{}, s.hist...), s.held...), chunk...)
	pos := len(s.hist) // first byte not passed on
	consumed := 0      // bytes up to here are history no prefix can reuse
	s.held = nil
	var out []Event
	emit := func(to int) {
		if to > pos {
			out = append(out, Event{Data: view[pos:to]})
			pos = to
		}
	}
	for from := 0; ; {
		i := bytes.Index(view[from:], prefix)
		if i < 0 {
			break
		}
		i += from
		end := i + len(prefix) + tokenLen
		if !isHex(string(view[i+len(prefix) : min(end, len(view))])) {
			from = i + 1 // a prefix, but no token follows: data
			continue
		}
		if len(view) < end+1 {
			// A prefix without its whole line yet: hold it (and what
			// follows) until the next chunk.
			emit(i)
			s.held = append([]byte(nil), view[max(i, pos):]...)
			pos = len(view)
			break
		}
		token := string(view[i+len(prefix) : end])
		if view[end] != '\n' || !isHex(token) {
			from = i + 1
			continue
		}
		emit(i)
		out = append(out, Event{Start: true, Token: token})
		pos, consumed, from = end+1, end+1, end+1
	}
	emit(len(view))
	tail := view[max(consumed, len(view)-len(s.held)-(len(prefix)-1)):]
	tail = tail[:len(tail)-len(s.held)]
	if len(tail) > len(prefix)-1 {
		tail = tail[len(tail)-(len(prefix)-1):]
	}
	s.hist = append([]byte(nil), tail...)
	return out
}

// Reset forgets what it held (the host hung up).
func (s *Scanner) Reset() { s.hist, s.held = nil, nil }

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
