package mainproc

import (
	"context"
	"fmt"
	"io"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Attachment is an attached host's side of the streams.
type Attachment struct {
	// Stdin feeds the process's stdin (when open); its EOF closes it.
	Stdin io.Reader
	// Stdout gets stdout (and, with a TTY, everything); Stderr gets stderr.
	Stdout, Stderr io.Writer
}

// Attach streams buffered and live output to a and a's input to the
// process, until the process exited and its output is delivered (it then
// returns the exit status) or ctx ends (the host left; output keeps
// buffering). Only one host may be attached: a second gets ErrConflict at
// once. accepted, when not nil, is called once the attachment is claimed
// and before any output flows (the SSH server replies to the request).
func (m *Main) Attach(ctx context.Context, a Attachment, accepted func()) (int, error) {
	m.mu.Lock()
	if m.attached {
		m.mu.Unlock()
		return 0, fmt.Errorf("main process: another host is attached: %w", errdefs.ErrConflict)
	}
	m.attached = true
	stdin := m.stdin
	m.mu.Unlock()
	if accepted != nil {
		accepted()
	}
	defer func() {
		m.mu.Lock()
		m.attached = false
		m.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if stdin != nil && a.Stdin != nil {
		go m.feedStdin(stdin, a.Stdin)
	}
	for {
		c, ok, err := m.out.next(ctx)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		w := a.Stdout
		if c.stream == Stderr {
			w = a.Stderr
		}
		if _, err := w.Write(c.data); err != nil {
			m.out.unshift(c)
			return 0, fmt.Errorf("main process: host gone: %w", err)
		}
	}
	select {
	case <-m.done:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return m.Status(), nil
}

// feedStdin copies the host's input to the process. When the host's input
// ends (EOF, or the host detached) a pipe is closed for good and the
// process sees EOF, like docker's stdin-once; a TTY stays open.
func (m *Main) feedStdin(w io.Writer, r io.Reader) {
	_, _ = io.Copy(w, r)
	if m.tty != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stdin == w {
		_ = m.stdin.Close()
		m.stdin = nil
	}
}
