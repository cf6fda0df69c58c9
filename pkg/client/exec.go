package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// ExecConfig is one command to run in a running VM, as `banger exec`
// runs it.
type ExecConfig struct {
	// Cmd runs exactly as given (no shell). Empty Env, WorkingDir and
	// User default to the main process's, as docker exec's do.
	Cmd        []string
	Env        []string
	WorkingDir string
	// User is a name or uid[:gid] in the guest.
	User string
	// Container, when set, runs the command chrooted in that container's
	// root in a pod VM (Session.MakeContainer); Env, WorkingDir and User
	// then default to nothing of the main process's.
	Container string
	// Stdin is copied to the command; its EOF closes the command's stdin.
	// Nil is an empty stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards it. With a TTY
	// everything arrives on Stdout. One writer given for both (a buffer of
	// the combined output) is written to by one stream at a time, as
	// os/exec does; two different writers are written from two goroutines.
	Stdout, Stderr io.Writer
	// TTY runs the command on a pseudo-terminal of that size.
	TTY *TTY
	// Signals, when set, are delivered to the command while it runs (an
	// os/signal.Notify channel forwards this process's).
	Signals <-chan os.Signal
	// Trace, when set, is called as the request passes its steps: "open"
	// (the channel is open) and "start" (the agent started the command).
	Trace func(step string)
}

// TTY is a terminal's type and size.
type TTY struct {
	// Term is $TERM in the guest; empty means xterm.
	Term       string
	Rows, Cols int
	// Resize, when set, delivers the terminal's new sizes while the
	// command runs (Process.Resize does too).
	Resize <-chan WindowSize
}

// WindowSize is a terminal's size in characters.
type WindowSize struct{ Rows, Cols int }

// Process is a command started in a VM (Session.Start).
type Process struct {
	p    *agentclient.Process
	done chan struct{} // closed by Wait: stops the signal forwarder
}

// Exec runs a command in a running VM over a session of its own and
// returns its exit code: the command's status, or 128+N when signal N
// ended it (126: it cannot be executed; 127: not found). When ctx ends
// first the command is killed and ctx's error returned.
func (c *Client) Exec(ctx context.Context, ref string, cfg ExecConfig) (code int, err error) {
	err = c.withSession(ctx, ref, func(s *Session) error {
		code, err = s.Exec(ctx, cfg)
		return err
	})
	return code, err
}

// Exec runs a command on the session and returns its exit code, as
// Client.Exec does.
func (s *Session) Exec(ctx context.Context, cfg ExecConfig) (int, error) {
	p, err := s.Start(ctx, cfg)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

// Start starts a command and returns without waiting for it: Wait returns
// its exit code, Signal and Resize act on it meanwhile.
func (s *Session) Start(ctx context.Context, cfg ExecConfig) (*Process, error) {
	if len(cfg.Cmd) == 0 {
		return nil, fmt.Errorf("%w: exec: no command", errdefs.ErrInvalid)
	}
	done := make(chan struct{})
	p, err := s.agent.Start(ctx, agentclient.ExecRequest{
		Argv: cfg.Cmd, Env: cfg.Env, WorkingDir: cfg.WorkingDir, User: cfg.User, Container: cfg.Container,
		Stdin: cfg.Stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
		TTY: ttyConfig(cfg.TTY, done), Signals: forwardSignals(cfg.Signals, done), Trace: cfg.Trace,
	})
	if err != nil {
		close(done)
		return nil, err
	}
	return &Process{p: p, done: done}, nil
}

// Wait waits for the command and its output and returns its exit code.
func (p *Process) Wait() (int, error) {
	defer close(p.done)
	return p.p.Wait()
}

// Signal delivers sig to the command.
func (p *Process) Signal(sig syscall.Signal) error {
	name := proto.SignalName(int(sig))
	if name == "" {
		return fmt.Errorf("%w: signal %d has no name the guest agent knows", errdefs.ErrInvalid, int(sig))
	}
	return p.p.Signal(ssh.Signal(name))
}

// Resize changes the command's terminal size (a command started with a
// TTY).
func (p *Process) Resize(rows, cols int) error { return p.p.Resize(rows, cols) }

// ShellConfig is a login shell's streams and terminal (Session.Shell).
type ShellConfig struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY, when set, runs the shell on a terminal (terminal echo on).
	TTY *TTY
}

// Shell runs the guest user's login shell, as `banger ssh VM` does, and
// returns its exit code. When ctx ends the session's channel is closed.
func (s *Session) Shell(ctx context.Context, cfg ShellConfig) (int, error) {
	sess, err := s.agent.SSH().NewSession()
	if err != nil {
		return 0, fmt.Errorf("open a session: %w", err)
	}
	defer func() { _ = sess.Close() }()
	sess.Stdin, sess.Stdout, sess.Stderr = cfg.Stdin, cfg.Stdout, cfg.Stderr
	if t := cfg.TTY; t != nil {
		if err := sess.RequestPty(t.Term, t.Rows, t.Cols, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
			return 0, fmt.Errorf("request a terminal: %w", err)
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case ws, ok := <-t.Resize:
					if !ok {
						return
					}
					_ = sess.WindowChange(ws.Rows, ws.Cols)
				case <-done:
					return
				}
			}
		}()
	}
	if err := sess.Shell(); err != nil {
		return 0, fmt.Errorf("start the shell: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	err = sess.Wait()
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	case ctx.Err() != nil:
		return 0, ctx.Err()
	default:
		return 0, err
	}
}

// CopyIn copies a host file or tree into a running VM over a session of
// its own (see Session.CopyIn).
func (c *Client) CopyIn(ctx context.Context, ref, src, dst string) error {
	return c.withSession(ctx, ref, func(s *Session) error { return s.CopyIn(ctx, src, dst) })
}

// CopyOut copies a file or tree out of a running VM over a session of its
// own (see Session.CopyOut).
func (c *Client) CopyOut(ctx context.Context, ref, src, dst string) error {
	return c.withSession(ctx, ref, func(s *Session) error { return s.CopyOut(ctx, src, dst) })
}

// withSession runs do on a session of its own.
func (c *Client) withSession(ctx context.Context, ref string, do func(*Session) error) error {
	s, err := c.OpenSession(ctx, ref, SessionOptions{})
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	return do(s)
}

// ttyConfig is t as the agent client takes it; its resizes are passed on
// until done closes.
func ttyConfig(t *TTY, done <-chan struct{}) *agentclient.TTYConfig {
	if t == nil {
		return nil
	}
	tc := &agentclient.TTYConfig{Term: t.Term, Rows: t.Rows, Cols: t.Cols}
	if t.Resize != nil {
		tc.Resize = relay(t.Resize, done, func(ws WindowSize) (agentclient.WindowSize, bool) {
			return agentclient.WindowSize(ws), true
		})
	}
	return tc
}

// forwardSignals turns host signals into the names the agent takes until
// done closes; a signal without a name (a real-time one) is dropped.
func forwardSignals(in <-chan os.Signal, done <-chan struct{}) <-chan ssh.Signal {
	if in == nil {
		return nil
	}
	return relay(in, done, func(s os.Signal) (ssh.Signal, bool) {
		n, ok := s.(syscall.Signal)
		if !ok {
			return "", false
		}
		name := proto.SignalName(int(n))
		return ssh.Signal(name), name != ""
	})
}

// relay passes what in delivers, converted (conv's false drops it), to
// the channel it returns until in closes or done does.
func relay[In, Out any](in <-chan In, done <-chan struct{}, conv func(In) (Out, bool)) <-chan Out {
	out := make(chan Out, 4)
	go func() {
		for {
			select {
			case v, ok := <-in:
				if !ok {
					return
				}
				w, keep := conv(v)
				if !keep {
					continue
				}
				select {
				case out <- w:
				case <-done:
					return
				}
			case <-done:
				return
			}
		}
	}()
	return out
}
