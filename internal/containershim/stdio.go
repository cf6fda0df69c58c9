package containershim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"syscall"

	"github.com/containerd/fifo"

	"github.com/bangerdev/banger/pkg/api"
)

// stdio are the FIFOs containerd gives a task (empty: none), and whether
// its process has a terminal (then all output is on stdout).
type stdio struct {
	stdin, stdout, stderr string
	terminal              bool
}

// openFIFOs opens the task's FIFOs: containerd holds their other ends
// open already, so this does not wait on a reader.
func openFIFOs(ctx context.Context, s stdio) (in io.ReadCloser, out, errw io.WriteCloser, err error) {
	if s.stdin != "" {
		if in, err = fifo.OpenFifo(ctx, s.stdin, syscall.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
			return nil, nil, nil, fmt.Errorf("open stdin %s: %w", s.stdin, err)
		}
	}
	if s.stdout != "" {
		if out, err = fifo.OpenFifo(ctx, s.stdout, syscall.O_WRONLY, 0); err != nil {
			closeAll(in, out, errw)
			return nil, nil, nil, fmt.Errorf("open stdout %s: %w", s.stdout, err)
		}
	}
	if s.stderr != "" && !s.terminal {
		if errw, err = fifo.OpenFifo(ctx, s.stderr, syscall.O_WRONLY, 0); err != nil {
			closeAll(in, out, errw)
			return nil, nil, nil, fmt.Errorf("open stderr %s: %w", s.stderr, err)
		}
	}
	return in, out, errw, nil
}

// closeAll closes each of cs that is not nil.
func closeAll(cs ...io.Closer) {
	for _, c := range cs {
		if c != nil {
			_ = c.Close()
		}
	}
}

// copyInput sends what arrives on stdin to the main process, then its
// end.
func copyInput(in io.Reader, w *api.FrameWriter) {
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 && w.Send(api.FrameStdin, buf[:n]) != nil {
			return
		}
		if err != nil {
			_ = w.Send(api.FrameStdinEOF, nil)
			return
		}
	}
}

// errNoExit is an attachment that ended without the exit status.
var errNoExit = errors.New("the attachment ended without an exit status")

// copyOutput writes the attachment's output frames to out and errw (nil:
// dropped) until the main process's exit status, which it returns.
func copyOutput(conn io.Reader, out, errw io.Writer) (int, error) {
	for {
		f, err := api.ReadFrame(conn)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, errNoExit
			}
			return 0, fmt.Errorf("read the attachment: %w", err)
		}
		switch f.Kind {
		case api.FrameStdout:
			writeTo(out, f.Data)
		case api.FrameStderr:
			writeTo(errw, f.Data)
		case api.FrameExit:
			code, err := strconv.Atoi(string(f.Data))
			if err != nil {
				return 0, fmt.Errorf("the attachment sent a bad exit status %q", f.Data)
			}
			return code, nil
		case api.FrameError:
			return 0, fmt.Errorf("the attachment failed: %s", f.Data)
		}
	}
}

// writeTo writes to w when there is one; a reader that went away loses
// the output, not the task.
func writeTo(w io.Writer, data []byte) {
	if w != nil {
		_, _ = w.Write(data)
	}
}
