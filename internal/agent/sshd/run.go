package sshd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/agent/pty"
	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/mainproc"
	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
)

// hangupGrace is how long a process whose client vanished has between
// SIGHUP and SIGKILL.
const hangupGrace = 2 * time.Second

// ptyDrain bounds reading a pty's last output after the process exited
// (a background job may keep the terminal open forever).
const ptyDrain = time.Second

func (ss *session) run(ctx context.Context, spec process.Spec) { ss.runAs(ctx, spec, "") }

// runAs runs spec on the channel (with a pty when one was requested) and
// ends the channel with the exit status. argv0, when set, replaces
// argv[0] as the process sees it (a login shell's "-sh").
func (ss *session) runAs(ctx context.Context, spec process.Spec, argv0 string) {
	if ss.pty != nil {
		spec.Env = process.Merge(spec.Env, []string{"TERM=" + firstNonEmpty(ss.pty.Term, "xterm")})
	}
	cmd, _, err := process.Command(ss.s.opts.Root, spec)
	if err != nil {
		ss.fail(err, process.StartCode(err))
		return
	}
	if argv0 != "" {
		cmd.Args[0] = argv0
	}
	var p *proc
	if ss.pty != nil {
		p, err = ss.startPTY(cmd)
	} else {
		p, err = ss.startPipes(cmd)
	}
	if err != nil {
		ss.fail(err, process.StartCode(err))
		return
	}
	ss.mu.Lock()
	ss.target = p
	ss.mu.Unlock()

	exited := make(chan struct{})
	go func() { // a vanished client hangs up the process
		select {
		case <-ss.closed:
		case <-ctx.Done():
		case <-exited:
			return
		}
		_ = p.signalGroup(syscall.SIGHUP)
		select {
		case <-exited:
		case <-time.After(hangupGrace):
			_ = p.signalGroup(syscall.SIGKILL)
		}
	}()
	werr := ss.s.opts.Reaper.Wait(cmd)
	close(exited)
	if spec.Chroot != "" {
		// A container's process is its init: what it started ends with
		// it, as a PID namespace's processes do when its init exits (here
		// its process group; one that left the group with setsid stays).
		// Without this a child holding the output open kept the session,
		// and the container's task, from ending after a kill.
		_ = p.signalGroup(syscall.SIGKILL)
	}
	p.drain()
	ss.exitErr(werr)
}

// proc is a started session process and its output copiers.
type proc struct {
	cmd     *exec.Cmd
	tty     *os.File
	copying sync.WaitGroup
	closers []io.Closer
	isPTY   bool
}

func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

func (p *proc) signalGroup(sig syscall.Signal) error {
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

func (p *proc) resize(rows, cols uint16) error {
	if p.tty == nil {
		return nil
	}
	return pty.Setsize(p.tty, rows, cols)
}

// drain waits for the output copiers: for pipes until every writer closed
// them (as sshd does), for a pty at most ptyDrain.
func (p *proc) drain() {
	done := make(chan struct{})
	go func() { p.copying.Wait(); close(done) }()
	if p.isPTY {
		select {
		case <-done:
		case <-time.After(ptyDrain):
		}
	} else {
		<-done
	}
	for _, c := range p.closers {
		_ = c.Close()
	}
	<-done
}

func (ss *session) startPipes(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd}
	var ends []*os.File
	var err error
	pipe := func() (r, w *os.File) {
		r, w, perr := os.Pipe()
		if perr != nil && err == nil {
			err = perr
		}
		ends = append(ends, r, w)
		return r, w
	}
	inR, inW := pipe()
	outR, outW := pipe()
	errR, errW := pipe()
	if err != nil {
		for _, f := range ends {
			if f != nil {
				_ = f.Close()
			}
		}
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.SysProcAttr.Setpgid = true
	err = ss.s.opts.Reaper.Start(cmd)
	_, _, _ = inR.Close(), outW.Close(), errW.Close()
	if err != nil {
		_, _, _ = inW.Close(), outR.Close(), errR.Close()
		return nil, err
	}
	go func() { // stdin: until the client's EOF; a dead process just stops it
		_, _ = io.Copy(inW, ss.ch)
		_ = inW.Close()
	}()
	p.copying.Go(func() { _, _ = io.Copy(ss.ch, outR) })
	p.copying.Go(func() { _, _ = io.Copy(ss.ch.Stderr(), errR) })
	p.closers = []io.Closer{outR, errR}
	return p, nil
}

func (ss *session) startPTY(cmd *exec.Cmd) (*proc, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	ss.mu.Lock()
	win := ss.win
	ss.mu.Unlock()
	if win.Rows > 0 && win.Cols > 0 {
		_ = pty.Setsize(master, uint16(win.Rows), uint16(win.Cols))
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setctty = true
	err = ss.s.opts.Reaper.Start(cmd)
	_ = tty.Close()
	if err != nil {
		_ = master.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, tty: master, isPTY: true, closers: []io.Closer{master}}
	go func() { _, _ = io.Copy(master, ss.ch) }()
	p.copying.Go(func() { _, _ = io.Copy(ss.ch, master) }) // ends with EIO once the tty is gone
	return p, nil
}

// fail reports a process that could not start, the way a shell would.
func (ss *session) fail(err error, code int) {
	_, _ = fmt.Fprintf(ss.ch.Stderr(), "banger-agent: %v\n", err)
	ss.exit(code)
}

// exitErr ends the channel with the status of a Wait error.
func (ss *session) exitErr(err error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			_, _ = ss.ch.SendRequest("exit-signal", false, ssh.Marshal(proto.ExitSignal{
				Signal: proto.SignalText(ws.Signal()), CoreDumped: ws.CoreDump(),
			}))
			_ = ss.ch.CloseWrite()
			_ = ss.ch.Close()
			return
		}
		ss.exit(mainproc.ExitStatus(ws))
		return
	}
	if err != nil {
		ss.fail(err, 255)
		return
	}
	ss.exit(0)
}

// exit sends exit-status and closes the channel.
func (ss *session) exit(code int) {
	_, _ = ss.ch.SendRequest("exit-status", false, ssh.Marshal(proto.ExitStatus{Status: uint32(code)}))
	_ = ss.ch.CloseWrite()
	_ = ss.ch.Close()
}
