package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// DefaultDetachKeys is docker's detach sequence, as ParseDetachKeys
// reads it.
const DefaultDetachKeys = "ctrl-p,ctrl-q"

// AttachConfig is how Attach joins a VM's main process.
type AttachConfig struct {
	// Logs sends the current run's output so far before the live output
	// (so an attach after a detached start misses nothing).
	Logs bool
	// Stdin, when set, is forwarded to the main process (which must have
	// been created Interactive); its EOF closes the process's stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards it. With a TTY
	// everything arrives on Stdout.
	Stdout, Stderr io.Writer
	// TTY sends the terminal's size, and its resizes, to the main
	// process's terminal (a VM created with TTY).
	TTY *TTY
	// DetachKeys, when typed on Stdin, detach: Attach returns with
	// Detached and the VM runs on (see ParseDetachKeys).
	DetachKeys []byte
}

// AttachResult is how an attachment ended.
type AttachResult struct {
	// Exited says the main process ended, with ExitCode (128+N for
	// signal N).
	Exited   bool
	ExitCode int
	// Detached says the detach keys were typed.
	Detached bool
}

// Attach joins a VM's main process through the daemon, which keeps its
// output: output frames to cfg's writers, stdin and terminal sizes to the
// process, until it exits (AttachResult.Exited), the detach keys are typed
// or ctx ends (ctx's error; the process runs on).
func (c *Client) Attach(ctx context.Context, ref string, cfg AttachConfig) (AttachResult, error) {
	conn, err := c.dialAttach(ctx, ref, api.AttachVMQuery{Logs: cfg.Logs, Stdin: cfg.Stdin != nil})
	if err != nil {
		return AttachResult{}, err
	}
	return streamAttach(ctx, conn, ref, cfg)
}

// dialAttach opens an attach connection to a VM.
func (c *Client) dialAttach(ctx context.Context, ref string, q api.AttachVMQuery) (net.Conn, error) {
	return api.Dial(ctx, c.api, api.AttachVM, q, ref)
}

// streamAttach runs an attach connection to vm: output frames to cfg's
// writers, its stdin and terminal size to the daemon. It closes conn.
func streamAttach(ctx context.Context, conn net.Conn, vm string, cfg AttachConfig) (AttachResult, error) {
	defer func() { _ = conn.Close() }()
	w := api.NewFrameWriter(conn)
	var detached atomic.Bool
	stopCtx := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stopCtx()
	if t := cfg.TTY; t != nil {
		_ = w.Send(api.FrameResize, fmt.Appendf(nil, "%d %d", t.Rows, t.Cols))
		go func() {
			for ws := range t.Resize {
				if w.Send(api.FrameResize, fmt.Appendf(nil, "%d %d", ws.Rows, ws.Cols)) != nil {
					return
				}
			}
		}()
	}
	if cfg.Stdin != nil {
		in := cfg.Stdin
		if len(cfg.DetachKeys) > 0 {
			in = &detachReader{r: in, keys: cfg.DetachKeys}
		}
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 && w.Send(api.FrameStdin, buf[:n]) != nil {
					return
				}
				if errors.Is(err, ErrDetach) {
					detached.Store(true)
					_ = conn.Close()
					return
				}
				if err != nil {
					_ = w.Send(api.FrameStdinEOF, nil)
					return
				}
			}
		}()
	}
	for {
		f, err := api.ReadFrame(conn)
		if err != nil {
			switch {
			case detached.Load():
				return AttachResult{Detached: true}, nil
			case ctx.Err() != nil:
				return AttachResult{}, ctx.Err()
			case errors.Is(err, io.EOF):
				return AttachResult{}, nil
			}
			return AttachResult{}, fmt.Errorf("attach to vm %s: %w", vm, err)
		}
		if err := writeOutput(f, cfg.Stdout, cfg.Stderr); err != nil {
			return AttachResult{}, err
		}
		switch f.Kind {
		case api.FrameExit:
			code, cerr := strconv.Atoi(string(f.Data))
			if cerr != nil {
				return AttachResult{}, fmt.Errorf("attach to vm %s: the daemon sent a bad exit status %q", vm, f.Data)
			}
			return AttachResult{Exited: true, ExitCode: code}, nil
		case api.FrameError:
			return AttachResult{}, fmt.Errorf("attach: %s", f.Data) // the daemon names the VM
		}
	}
}

// writeOutput writes an output frame on its stream (nil discards it);
// other frames are the caller's.
func writeOutput(f api.Frame, stdout, stderr io.Writer) error {
	w := stdout
	switch f.Kind {
	case api.FrameStdout:
	case api.FrameStderr:
		w = stderr
	default:
		return nil
	}
	if w == nil {
		return nil
	}
	_, err := w.Write(f.Data)
	return err
}

// ErrDetach is what a DetachReader's Read returns once the keys were
// typed.
var ErrDetach = errors.New("detach keys")

// DetachReader passes r through until keys (ParseDetachKeys) are typed,
// then returns ErrDetach; a partial sequence that is not completed is
// passed on as typed. The Docker API's exec and attach read their
// clients' stdin through it, as Attach does.
func DetachReader(r io.Reader, keys []byte) io.Reader { return &detachReader{r: r, keys: keys} }

// detachReader passes input through until it sees the detach sequence;
// a partial sequence that is not completed is passed on as typed.
type detachReader struct {
	r       io.Reader
	keys    []byte
	matched int
	pending []byte
}

func (d *detachReader) Read(p []byte) (int, error) {
	if len(d.pending) > 0 {
		n := copy(p, d.pending)
		d.pending = d.pending[n:]
		return n, nil
	}
	buf := make([]byte, len(p))
	n, err := d.r.Read(buf)
	var out []byte
	for _, c := range buf[:n] {
		if c == d.keys[d.matched] {
			d.matched++
			if d.matched == len(d.keys) {
				d.matched = 0
				d.pending = append(d.pending, out...)
				return d.flush(p, ErrDetach)
			}
			continue
		}
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
		if c == d.keys[0] {
			d.matched = 1
			continue
		}
		out = append(out, c)
	}
	if err != nil && d.matched > 0 { // the input ended inside a sequence
		out = append(out, d.keys[:d.matched]...)
		d.matched = 0
	}
	d.pending = append(d.pending, out...)
	return d.flush(p, err)
}

// flush returns what is pending, then err once nothing is.
func (d *detachReader) flush(p []byte, err error) (int, error) {
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	if len(d.pending) > 0 {
		return n, nil
	}
	return n, err
}

// ParseDetachKeys reads docker's --detach-keys: comma-separated
// "ctrl-<key>" or single characters ("ctrl-p,ctrl-q").
func ParseDetachKeys(s string) ([]byte, error) {
	var out []byte
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case strings.HasPrefix(strings.ToLower(k), "ctrl-") && len(k) == 6:
			c := strings.ToLower(k)[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				out = append(out, c-'['+27)
			default:
				return nil, fmt.Errorf("%w: detach keys %q: unknown key %q", errdefs.ErrInvalid, s, k)
			}
		default:
			return nil, fmt.Errorf("%w: detach keys %q: want ctrl-<key> or one character, comma separated (ctrl-p,ctrl-q)", errdefs.ErrInvalid, s)
		}
	}
	return out, nil
}
