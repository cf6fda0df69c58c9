// Package mainproc supervises a VM's main process: the image's
// entrypoint+cmd, started right after boot like a container's. It captures
// stdout and stderr in a bounded buffer until a host attaches (so nothing
// printed before the host's SSH handshake is lost), hands stdin, signals
// and window sizes from the attached host to the process, and keeps the
// exit status until a host has collected it.
//
// One host attaches at a time. A host that detaches (its channel closes)
// leaves the output buffering again for the next one.
package mainproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/agent/pty"

	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// DefaultBuffer is the output buffer's size.
const DefaultBuffer = 1 << 20

// drainTimeout bounds how long output pipes may stay open after the
// process exited (a background grandchild may hold them).
const drainTimeout = 2 * time.Second

// Options describe the main process.
type Options struct {
	Spec process.Spec
	// TTY runs it on a pseudo-terminal (stdout and stderr merge).
	TTY bool
	// Stdin opens its stdin to attached hosts; otherwise it reads /dev/null.
	Stdin bool
	// Ring drops the oldest output when the buffer is full instead of
	// blocking the process (for detached VMs).
	Ring bool
	// Buffer is the output buffer's size; 0 means DefaultBuffer.
	Buffer int
	// Root is the guest's "/" for user and PATH lookups.
	Root   string
	Reaper *process.Reaper
	// OOMKills counts the kernel's OOM kills so far (default: oom_kill in
	// /proc/vmstat); a SIGKILL while the count rose is an OOM kill.
	OOMKills func() int64
	// Cgroup, when set, is the cgroup directory the process starts in
	// (clone3 CLONE_INTO_CGROUP); the caller closes it after Start.
	Cgroup *os.File
}

// Main is a running (or finished) main process.
type Main struct {
	cmd    *exec.Cmd
	reaper *process.Reaper
	out    *buffer
	tty    *os.File
	stdin  io.WriteCloser // nil when stdin is closed or /dev/null

	oomKills  func() int64
	oomBefore int64

	mu        sync.Mutex
	attached  bool
	exit      proto.Exit
	done      chan struct{}
	collected chan struct{}
	collectMu sync.Once
}

// Start starts the main process. A process that cannot start (no such
// file, not executable) is an error; the caller reports it and treats it
// as exit status StartError.Code.
func Start(o Options) (*Main, error) {
	cmd, _, err := process.Command(o.Root, o.Spec)
	if err != nil {
		return nil, err
	}
	limit := o.Buffer
	if limit <= 0 {
		limit = DefaultBuffer
	}
	m := &Main{cmd: cmd, reaper: o.Reaper, done: make(chan struct{}), collected: make(chan struct{}), oomKills: o.OOMKills}
	if m.oomKills == nil {
		m.oomKills = vmstatOOMKills
	}
	m.oomBefore = m.oomKills()
	cmd.SysProcAttr.Setsid = true // its own session: signals and the TTY are its own
	if o.Cgroup != nil {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(o.Cgroup.Fd())
	}
	var readers []*os.File
	var closeAfterStart []*os.File
	if o.TTY {
		master, slave, err := pty.Open()
		if err != nil {
			return nil, fmt.Errorf("main: open pty: %w", err)
		}
		_ = pty.Setsize(master, 24, 80)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setctty = true
		m.tty = master
		if o.Stdin {
			m.stdin = master
		}
		readers = []*os.File{master}
		closeAfterStart = []*os.File{slave}
	} else {
		or, ow, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		er, ew, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = ow, ew
		readers = []*os.File{or, er}
		closeAfterStart = []*os.File{ow, ew}
		if o.Stdin {
			ir, iw, err := os.Pipe()
			if err != nil {
				return nil, err
			}
			cmd.Stdin, m.stdin = ir, iw
			closeAfterStart = append(closeAfterStart, ir)
		}
	}
	m.out = newBuffer(limit, o.Ring, len(readers))
	err = m.reaper.Start(cmd)
	for _, f := range closeAfterStart {
		_ = f.Close()
	}
	if err != nil {
		for _, f := range readers {
			_ = f.Close()
		}
		return nil, fmt.Errorf("main: start %s: %w", o.Spec.Argv[0], err)
	}
	var drained sync.WaitGroup
	for i, r := range readers {
		drained.Go(func() { m.pump(r, i+1) })
	}
	go m.wait(readers, &drained)
	return m, nil
}

// pump copies one output stream into the buffer until EOF (or EIO: a
// pty whose slave side is gone).
func (m *Main) pump(r *os.File, stream int) {
	defer m.out.closeWriter()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m.out.write(stream, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func (m *Main) wait(readers []*os.File, drained *sync.WaitGroup) {
	err := m.reaper.Wait(m.cmd)
	exit := proto.Exit{}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		exit.Status = ExitStatus(ws)
		if ws.Signaled() {
			exit.Signal = proto.SignalName(int(ws.Signal()))
			exit.OOM = ws.Signal() == syscall.SIGKILL && m.oomKills() > m.oomBefore
		}
	} else if err != nil {
		exit.Status = 255
	}
	pumped := make(chan struct{})
	go func() { drained.Wait(); close(pumped) }()
	select {
	case <-pumped:
	case <-time.After(drainTimeout):
	}
	for _, r := range readers {
		_ = r.Close()
	}
	<-pumped
	m.mu.Lock()
	m.exit = exit
	if m.stdin != nil && m.stdin != m.tty {
		_ = m.stdin.Close()
	}
	m.stdin = nil
	m.mu.Unlock()
	close(m.done)
}

// ExitStatus is a shell's $? for ws: the exit code, or 128+signal.
func ExitStatus(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Done is closed when the process exited and its output is all buffered.
func (m *Main) Done() <-chan struct{} { return m.done }

// Status returns the exit status (valid once Done is closed).
func (m *Main) Status() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exit.Status
}

// Exit says how the process ended (valid once Done is closed).
func (m *Main) Exit() proto.Exit {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exit
}

// Collected is closed once a host received the exit status.
func (m *Main) Collected() <-chan struct{} { return m.collected }

// MarkCollected records that a host received the exit status.
func (m *Main) MarkCollected() { m.collectMu.Do(func() { close(m.collected) }) }

// Signal sends sig to the process.
func (m *Main) Signal(sig syscall.Signal) error {
	if m.cmd == nil {
		return fmt.Errorf("main process never started: %w", errdefs.ErrConflict)
	}
	select {
	case <-m.done:
		return fmt.Errorf("main process has exited: %w", errdefs.ErrConflict)
	default:
	}
	return m.cmd.Process.Signal(sig)
}

// Resize sets the TTY's window size (no-op without a TTY).
func (m *Main) Resize(rows, cols uint16) error {
	if m.tty == nil {
		return nil
	}
	return pty.Setsize(m.tty, rows, cols)
}

// Stop asks the process to end: sig (its stop signal), then after grace
// SIGKILL to its whole session. It returns when the process is gone or
// ctx ends.
func (m *Main) Stop(ctx context.Context, sig syscall.Signal, grace time.Duration) {
	if m.Signal(sig) != nil {
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-m.done:
		return
	case <-ctx.Done():
		return
	case <-t.C:
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	_ = m.cmd.Process.Kill()
	select {
	case <-m.done:
	case <-ctx.Done():
	}
}

// Failed returns a Main for a process that could not start: a host that
// attaches reads err on stderr and gets status (127 for "not found", as a
// shell would say), so `banger run` reports it like any other exit.
func Failed(err error, status int) *Main {
	m := &Main{out: newBuffer(DefaultBuffer, false, 0), exit: proto.Exit{Status: status}, done: make(chan struct{}), collected: make(chan struct{})}
	m.out.write(Stderr, []byte("banger-agent: "+err.Error()+"\n"))
	close(m.done)
	return m
}

// vmstatOOMKills reads the kernel's count of OOM kills (0 when there is no
// /proc/vmstat: then no kill counts as an OOM kill).
func vmstatOOMKills() int64 {
	b, err := os.ReadFile("/proc/vmstat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
