package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// defaultDetachKeys is docker's detach sequence.
const defaultDetachKeys = "ctrl-p,ctrl-q"

func newAttachCmd(app *App) *cobra.Command {
	var (
		noStdin    bool
		detachKeys string
	)
	cmd := &cobra.Command{
		Use:   "attach [--no-stdin] [--detach-keys KEYS] VM",
		Short: "Attach to a VM's main process: its output so far, then live",
		Long: `Attach this terminal to the VM's main process through the daemon, which
keeps its output: what the current run printed so far comes first (so
banger run -d followed by banger attach misses nothing), then the live
output, stdout here on stdout and stderr on stderr. Input goes to the
process when it was started with -i (banger run -i). banger attach exits
with the process's exit status when it ends.

With a terminal (banger run -t), this one is put in raw mode, and the
detach keys (ctrl-p ctrl-q unless --detach-keys says otherwise) leave the
process running.`,
		Example: `  banger run -d --name job busybox sh -c 'echo start; sleep 5; echo done'
  banger attach job
  banger attach --detach-keys ctrl-x,x web`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := parseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			c, err := app.Client()
			if err != nil {
				return err
			}
			vm, err := api.Do(cmd.Context(), c, api.GetVM, api.None{}, args[0])
			if err != nil {
				return err
			}
			stdin := !noStdin && vm.Spec.Interactive
			conn, err := app.dialAttach(cmd.Context(), vm.ID, api.AttachVMQuery{Logs: true, Stdin: stdin})
			if err != nil {
				return err
			}
			res, err := app.streamAttach(cmd.Context(), conn, attachIO{stdin: stdin, tty: vm.Spec.TTY, detachKeys: keys})
			if err != nil {
				return err
			}
			if res.detached {
				return nil
			}
			if !res.exited {
				return fmt.Errorf("vm %s: the attachment ended without an exit status; see `banger wait %s`", vm.Name, vm.Name)
			}
			if res.code != 0 {
				return &ExitError{Code: res.code}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not send this terminal's input to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", defaultDetachKeys, "the key sequence that detaches (with a terminal): ctrl-<letter> or single characters, comma separated")
	return cmd
}

// attachIO is how a client attaches: with stdin forwarded, on a TTY,
// with detach keys (used only when stdin is a terminal).
type attachIO struct {
	stdin, tty bool
	detachKeys []byte
}

// attachResult is how an attachment ended: the exit status (exited), or
// the user detached.
type attachResult struct {
	code             int
	exited, detached bool
}

// streamAttach runs an attach connection: output frames to stdout and
// stderr, this terminal's input and size to the daemon.
func (a *App) streamAttach(ctx context.Context, conn net.Conn, o attachIO) (attachResult, error) {
	defer func() { _ = conn.Close() }()
	w := api.NewFrameWriter(conn)
	var isDetached atomic.Bool
	detach := func() { isDetached.Store(true); _ = conn.Close() }
	stopCtx := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stopCtx()

	terminal := false
	if f, ok := a.Stdin.(*os.File); ok && isTerminal(f) {
		terminal = true
	}
	if o.tty {
		tc, restore, err := a.terminal()
		if err != nil {
			return attachResult{}, err
		}
		defer restore()
		_ = w.Send(api.FrameResize, fmt.Appendf(nil, "%d %d", tc.Rows, tc.Cols))
		go func() {
			for ws := range tc.Resize {
				_ = w.Send(api.FrameResize, fmt.Appendf(nil, "%d %d", ws.Rows, ws.Cols))
			}
		}()
	}
	if o.stdin {
		in := a.Stdin
		if terminal && o.tty && len(o.detachKeys) > 0 {
			in = &detachReader{r: in, keys: o.detachKeys}
		}
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := in.Read(buf)
				if n > 0 && w.Send(api.FrameStdin, buf[:n]) != nil {
					return
				}
				if errors.Is(err, errDetach) {
					detach()
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
			if isDetached.Load() {
				_, _ = fmt.Fprintln(a.Stderr, "\r\nbanger: detached; the VM runs on")
				return attachResult{detached: true}, nil
			}
			if ctx.Err() != nil {
				return attachResult{}, ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return attachResult{}, nil
			}
			return attachResult{}, fmt.Errorf("attach: %w", err)
		}
		if err := a.writeOutput(f); err != nil {
			return attachResult{}, err
		}
		switch f.Kind {
		case api.FrameExit:
			code, cerr := strconv.Atoi(string(f.Data))
			if cerr != nil {
				return attachResult{}, fmt.Errorf("attach: bad exit status %q", f.Data)
			}
			return attachResult{code: code, exited: true}, nil
		case api.FrameError:
			return attachResult{}, fmt.Errorf("attach: %s", f.Data)
		}
	}
}

// writeOutput prints an output frame on its stream (other frames are the
// caller's).
func (a *App) writeOutput(f api.Frame) error {
	var err error
	switch f.Kind {
	case api.FrameStdout:
		_, err = a.Stdout.Write(f.Data)
	case api.FrameStderr:
		_, err = a.Stderr.Write(f.Data)
	}
	return err
}

// errDetach is what a detachReader returns once the keys were typed.
var errDetach = errors.New("detach keys")

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
				return d.flush(p, errDetach)
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

// parseDetachKeys reads docker's --detach-keys: comma-separated
// "ctrl-<key>" or single characters.
func parseDetachKeys(s string) ([]byte, error) {
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
				return nil, fmt.Errorf("%w: --detach-keys %q: unknown key %q", errdefs.ErrInvalid, s, k)
			}
		default:
			return nil, fmt.Errorf("%w: --detach-keys %q: want ctrl-<key> or one character, comma separated (ctrl-p,ctrl-q)", errdefs.ErrInvalid, s)
		}
	}
	return out, nil
}
