package containershim

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/log"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/bangerdev/banger/pkg/client"
)

// sessionProc is a process that runs over a session of the daemon's
// (client.Session.Start): an exec, or a pod container's main process.
// Its proc and stdin are set when it starts.
type sessionProc struct {
	procState
	proc  Process
	stdin io.Closer // the write end of the process's stdin; nil for none
}

// running answers the process, or an error when it does not run; what
// names it.
func (p *sessionProc) running(what string) (Process, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != taskapi.Status_RUNNING || p.proc == nil {
		return nil, toGRPC(fmt.Errorf("%w: %s is %s, not running", errFailedPrecondition, what, p.status))
	}
	return p.proc, nil
}

// signal sends sig to the running process.
func (p *sessionProc) signal(what string, sig uint32) error {
	proc, err := p.running(what)
	if err != nil {
		return err
	}
	if err := proc.Signal(syscall.Signal(sig)); err != nil {
		return toGRPC(fmt.Errorf("signal %d to %s: %w", sig, what, err))
	}
	return nil
}

// resize gives the running process's terminal its new size.
func (p *sessionProc) resize(what string, rows, cols uint32) error {
	proc, err := p.running(what)
	if err != nil {
		return err
	}
	if err := proc.Resize(int(rows), int(cols)); err != nil {
		return toGRPC(fmt.Errorf("resize the terminal of %s: %w", what, err))
	}
	return nil
}

// closeStdin ends the process's stdin (nothing when it has none or has
// not started).
func (p *sessionProc) closeStdin() {
	p.mu.Lock()
	c := p.stdin
	p.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// process is a process just started in a VM over a session, with the
// FIFOs its output goes to.
type process struct {
	proc      Process
	stdin     io.Closer // the write end of its stdin; nil for none
	out, errw io.Closer
}

// startProcess starts p in VM vm (in its container's root when
// container is not "") with the FIFOs of fifos as its stdio.
func (s *Service) startProcess(ctx context.Context, vm, container string, p *specs.Process, fifos stdio) (process, error) {
	in, out, errw, err := openFIFOs(ctx, fifos)
	if err != nil {
		return process{}, err
	}
	// A FIFO not given is a nil writer: its output is dropped.
	cfg := client.ExecConfig{Cmd: p.Args, Env: p.Env, WorkingDir: p.Cwd, User: processUser(p.User), Container: container, Stdout: out, Stderr: errw}
	var stdinW *io.PipeWriter
	if in != nil {
		var stdinR *io.PipeReader
		stdinR, stdinW = io.Pipe()
		cfg.Stdin = stdinR
		go func() { _, _ = io.Copy(stdinW, in); _ = stdinW.Close(); _ = in.Close() }()
	}
	if fifos.terminal {
		cfg.TTY = &client.TTY{}
		if cs := p.ConsoleSize; cs != nil {
			cfg.TTY.Rows, cfg.TTY.Cols = int(cs.Height), int(cs.Width) //nolint:gosec // terminal sizes
		}
	}
	proc, err := s.daemon.Exec(context.WithoutCancel(ctx), vm, cfg)
	if err != nil {
		closeAll(in, out, errw)
		return process{}, err
	}
	res := process{proc: proc, out: out, errw: errw}
	if stdinW != nil {
		res.stdin = stdinW
	}
	return res, nil
}

// waitProcess records a process's exit once it ends (exitUnknown when
// its session broke first) and publishes TaskExit with id.
func (s *Service) waitProcess(ctx context.Context, containerID, id string, ps *procState, p process) {
	code, err := p.proc.Wait()
	closeAll(p.out, p.errw)
	if err != nil {
		log.G(ctx).WithError(err).WithField("id", containerID).WithField("process", id).Warn("process ended without its exit status")
		code = exitUnknown
	}
	ps.exit(containerID, id, code, time.Now(), s.events)
}
