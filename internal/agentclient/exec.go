package agentclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
)

// ErrNoExitStatus is returned when a channel ends without an exit status
// (the agent went away, or refused mid-way).
var ErrNoExitStatus = errors.New("agentclient: the session ended without an exit status")

// ExecRequest is one command to run in the guest.
type ExecRequest struct {
	// Argv runs exactly (no shell). Empty fields default to the main
	// process's env, working dir and user (docker exec semantics).
	Argv       []string
	Env        []string
	WorkingDir string
	User       string
	// Container, when set, runs the process chrooted in that container's
	// root in a pod VM (made by Client.MakeContainer); the defaults are
	// then not the main process's: give the container's env, working
	// dir and user.
	Container string
	// Stdin is copied to the process; its EOF closes the process's stdin.
	// Nil means empty stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the output; nil discards. With a TTY
	// everything arrives on Stdout. They are written from two goroutines:
	// one writer for both must be safe for concurrent use.
	Stdout, Stderr io.Writer
	// TTY runs the process on a pseudo-terminal.
	TTY *TTYConfig
	// Signals, when set, are delivered to the process while it runs.
	Signals <-chan ssh.Signal
	// Trace, when set, is called as the request passes its steps: "open"
	// (the channel is open) and "start" (the agent accepted the command);
	// `banger exec --timings` times them.
	Trace func(step string)
}

// TTYConfig describes the terminal of a TTY session.
type TTYConfig struct {
	// Term is $TERM; empty means xterm.
	Term       string
	Rows, Cols int
	// Modes are terminal modes (RFC 4254 §8); nil sends none. An attach
	// to the main process sends none: its terminal exists already.
	Modes ssh.TerminalModes
	// Resize, when set, delivers window size changes.
	Resize <-chan WindowSize
}

// WindowSize is a terminal's size in characters.
type WindowSize struct{ Rows, Cols int }

// Process is a command started with Start.
type Process struct {
	ch      ssh.Channel
	status  chan int // the exit status, once (closed without one when none came)
	copying sync.WaitGroup
	stop    func() bool
	ctx     context.Context
}

// Exec runs req and returns its exit status: the exit code, or 128+signal
// for a process a signal killed. When ctx ends first the process is killed
// and ctx's error returned.
func (c *Client) Exec(ctx context.Context, req ExecRequest) (int, error) {
	p, err := c.Start(ctx, req)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

// Start starts req and returns without waiting for it.
func (c *Client) Start(ctx context.Context, req ExecRequest) (*Process, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("agentclient: exec: empty argv")
	}
	payload := proto.Marshal(proto.ExecPayload{Argv: req.Argv, Env: req.Env, WorkingDir: req.WorkingDir, User: req.User, Container: req.Container})
	return c.open(ctx, proto.RequestExec, payload, req)
}

// AttachMain attaches to the VM's main process: its output so far and from
// now on goes to stdout and stderr, stdin (when the boot config opened the
// process's stdin) feeds it, and the call returns its exit status once it
// ended. Only one host may be attached at a time. When ctx ends the host
// only detaches: the process runs on and its output buffers for the next
// attach.
func (c *Client) AttachMain(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	p, err := c.OpenMain(ctx, stdin, stdout, stderr, nil)
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

// AttachMainTTY attaches to a main process that runs on a TTY (`run -t`):
// the terminal's size and resizes go to it, and signals are delivered.
func (c *Client) AttachMainTTY(ctx context.Context, stdin io.Reader, stdout io.Writer, tty TTYConfig, signals <-chan ssh.Signal) (int, error) {
	p, err := c.open(ctx, proto.RequestAttach, nil, ExecRequest{Stdin: stdin, Stdout: stdout, Stderr: io.Discard, TTY: &tty, Signals: signals})
	if err != nil {
		return 0, err
	}
	return p.Wait()
}

// OpenMain attaches as AttachMain does (with tty, as AttachMainTTY) and
// returns once the agent accepted the attachment; Wait then returns the
// exit status.
func (c *Client) OpenMain(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, tty *TTYConfig) (*Process, error) {
	return c.open(ctx, proto.RequestAttach, nil, ExecRequest{Stdin: stdin, Stdout: stdout, Stderr: stderr, TTY: tty})
}

// open opens a session channel and sends it request with payload; of r
// only the streams, TTY, signals and trace count. An exec without a TTY
// goes in the channel's open (proto.ChannelExec) unless this agent is
// known not to have it.
func (c *Client) open(ctx context.Context, request string, payload []byte, r ExecRequest) (*Process, error) {
	tty := r.TTY
	trace := r.Trace
	if trace == nil {
		trace = func(string) {}
	}
	if request == proto.RequestExec && tty == nil && !c.noExecChannel.Load() {
		p, err := c.openExec(ctx, payload, r, trace)
		if !errors.Is(err, errNoExecChannel) {
			return p, err
		}
		c.noExecChannel.Store(true)
	}
	ch, reqs, err := c.client.OpenChannel("session", nil)
	if err != nil {
		return nil, fmt.Errorf("agentclient: open session: %w", err)
	}
	trace("open")
	p := newProcess(ctx, ch, reqs)
	fail := func(err error) (*Process, error) {
		_ = ch.Close()
		return nil, err
	}
	if tty != nil {
		if request == proto.RequestAttach {
			// The main process's terminal exists; only its size changes
			// (none given: it keeps its size). Modes are not sent.
			if tty.Rows > 0 && tty.Cols > 0 {
				_, err = ch.SendRequest("window-change", false, ssh.Marshal(proto.WindowChange{Cols: uint32(tty.Cols), Rows: uint32(tty.Rows)}))
			}
		} else {
			err = sendPty(ch, tty)
		}
		if err != nil {
			return fail(fmt.Errorf("agentclient: pty: %w", err))
		}
	}
	ok, err := ch.SendRequest(request, true, payload)
	if err != nil {
		if errors.Is(err, io.EOF) && request == proto.RequestExec {
			return fail(execUnanswered(err))
		}
		return fail(fmt.Errorf("agentclient: %s: %w", request, err))
	}
	if !ok {
		if request == proto.RequestAttach {
			return fail(errors.New("agentclient: attach refused: the VM has no main process, or another host is attached"))
		}
		return fail(fmt.Errorf("agentclient: %s refused", request))
	}
	trace("start")
	return p.run(ctx, request, r), nil
}

// run starts copying the process's streams and forwarding r's signals
// and window sizes; request is what the channel started.
func (p *Process) run(ctx context.Context, request string, r ExecRequest) *Process {
	ch, stdin, stdout, stderr, tty := p.ch, r.Stdin, r.Stdout, r.Stderr, r.TTY
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if sameWriter(stdout, stderr) {
		// One writer for both streams (a single buffer for the combined
		// output) is written to by one copy at a time, as os/exec does.
		w := &lockedWriter{w: stdout}
		stdout, stderr = w, w
	}
	p.copying.Go(func() { _, _ = io.Copy(stdout, ch) })
	p.copying.Go(func() { _, _ = io.Copy(stderr, ch.Stderr()) })
	go func() {
		if stdin != nil {
			_, _ = io.Copy(ch, stdin)
		}
		_ = ch.CloseWrite()
	}()
	done := make(chan struct{})
	go p.forward(done, r.Signals, tty)
	p.stop = context.AfterFunc(ctx, func() {
		if request != proto.RequestAttach { // a host leaving an attach only detaches
			_ = p.Signal(ssh.SIGKILL)
		}
		_ = ch.Close()
	})
	go func() { p.copying.Wait(); close(done) }()
	return p
}

func sendPty(ch ssh.Channel, tty *TTYConfig) error {
	var modes []byte
	for op, val := range tty.Modes {
		modes = append(modes, ssh.Marshal(struct {
			Op  uint8
			Val uint32
		}{op, val})...)
	}
	modes = append(modes, 0) // TTY_OP_END
	term := tty.Term
	if term == "" {
		term = "xterm"
	}
	ok, err := ch.SendRequest("pty-req", true, ssh.Marshal(proto.PtyRequest{
		Term: term, Cols: uint32(tty.Cols), Rows: uint32(tty.Rows), Modes: string(modes),
	}))
	if err == nil && !ok {
		err = errors.New("refused")
	}
	return err
}

// forward delivers signals and window sizes until the process is done.
func (p *Process) forward(done <-chan struct{}, signals <-chan ssh.Signal, tty *TTYConfig) {
	var resize <-chan WindowSize
	if tty != nil {
		resize = tty.Resize
	}
	for {
		select {
		case <-done:
			return
		case s, ok := <-signals:
			if !ok {
				signals = nil
				continue
			}
			_ = p.Signal(s)
		case w, ok := <-resize:
			if !ok {
				resize = nil
				continue
			}
			_ = p.Resize(w.Rows, w.Cols)
		}
	}
}

// newProcess is the process on ch, its exit status read from reqs.
func newProcess(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request) *Process {
	p := &Process{ch: ch, status: make(chan int, 1), ctx: ctx}
	go p.watchStatus(reqs)
	return p
}

// execUnanswered is an exec whose answer never came: the agent may have
// started the command, so nobody must run it again on the caller's
// behalf.
func execUnanswered(err error) error {
	return fmt.Errorf("agentclient: %s: the session closed before the agent answered (the VM stopped, or the connection to it broke); the command may have run: %w", proto.RequestExec, err)
}

func (p *Process) watchStatus(reqs <-chan *ssh.Request) {
	sent := false
	for r := range reqs {
		if sent {
			continue
		}
		switch r.Type {
		case "exit-status":
			var s proto.ExitStatus
			if ssh.Unmarshal(r.Payload, &s) == nil {
				p.status <- int(s.Status)
				sent = true
			}
		case "exit-signal":
			var s proto.ExitSignal
			if ssh.Unmarshal(r.Payload, &s) == nil {
				p.status <- 128 + signalNumber(s.Signal)
				sent = true
			}
		}
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
	close(p.status)
}

// Signal delivers sig to the process.
func (p *Process) Signal(sig ssh.Signal) error {
	_, err := p.ch.SendRequest("signal", false, ssh.Marshal(proto.SignalMsg{Signal: string(sig)}))
	return err
}

// Resize changes the TTY's window size.
func (p *Process) Resize(rows, cols int) error {
	_, err := p.ch.SendRequest("window-change", false, ssh.Marshal(proto.WindowChange{Cols: uint32(cols), Rows: uint32(rows)}))
	return err
}

// Wait waits for the process and its output, and returns its exit status.
func (p *Process) Wait() (int, error) {
	p.copying.Wait()
	status, ok := <-p.status
	canceled := p.stop != nil && !p.stop()
	_ = p.ch.Close()
	if canceled {
		return 0, fmt.Errorf("agentclient: %w", p.ctx.Err())
	}
	if !ok {
		return 0, ErrNoExitStatus
	}
	return status, nil
}

// signalNumber maps an exit-signal's name to the Linux signal number: an
// RFC 4254 name ("KILL"), or the number an agent sends for a signal
// without one. An unknown name gives 127 (so 128+127 = 255, "unknown").
func signalNumber(name string) int {
	if n, ok := proto.SignalNumber(name); ok {
		return n
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 && n < 128 {
		return n
	}
	return 127
}

// sameWriter reports whether a and b are the same writer; writers whose
// dynamic type cannot be compared are not.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b && a != io.Discard
}

// lockedWriter serializes writes to one writer from two copies.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
