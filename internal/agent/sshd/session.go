package sshd

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/ctrroot"
	"github.com/bangerdev/banger/internal/agent/mainproc"
	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agent/users"
)

// collectWait bounds how long an attach waits for the host to acknowledge
// the exit status (close the channel) before the agent may power off.
const collectWait = 2 * time.Second

// session is one session channel: env and pty requests, then one of exec,
// shell, subsystem, banger-exec or banger-attach, then signals and window
// changes for what runs.
type session struct {
	s     *Server
	login string // the SSH user name
	// defaults are the connection's Identity.Defaults.
	defaults process.Spec
	ch       ssh.Channel
	env      []string
	pty      *proto.PtyRequest

	mu      sync.Mutex
	started bool
	target  target // what signals and window changes go to
	win     proto.WindowChange
	closed  chan struct{}
}

// target receives a running session's signals and window sizes.
type target interface {
	signal(sig syscall.Signal) error
	resize(rows, cols uint16) error
}

func (s *Server) session(ctx context.Context, login string, defaults process.Spec, nc ssh.NewChannel) {
	s.serveSession(ctx, login, defaults, nc, nil)
}

// execSession is a proto.ChannelExec: the exec comes with the open, and
// the command starts once the channel is accepted (the confirmation is
// the answer a RequestExec's reply would be).
func (s *Server) execSession(ctx context.Context, login string, defaults process.Spec, nc ssh.NewChannel) {
	var p proto.ExecPayload
	if proto.Unmarshal(nc.ExtraData(), &p) != nil || len(p.Argv) == 0 {
		_ = nc.Reject(ssh.Prohibited, "bad exec request: want an argv")
		return
	}
	s.serveSession(ctx, login, defaults, nc, func(ctx context.Context, ss *session) {
		ss.started = true
		go ss.runExec(ctx, p)
	})
}

// serveSession accepts nc, runs first (when set) and serves the channel's
// requests until the client closes it.
func (s *Server) serveSession(ctx context.Context, login string, defaults process.Spec, nc ssh.NewChannel, first func(context.Context, *session)) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	ss := &session{s: s, login: login, defaults: defaults, ch: ch, closed: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if first != nil {
		first(ctx, ss)
	}
	for r := range reqs {
		ss.request(ctx, r)
	}
	// The client closed the channel (or the connection died).
	close(ss.closed)
}

func (ss *session) request(ctx context.Context, r *ssh.Request) {
	reply := func(ok bool) {
		if r.WantReply {
			_ = r.Reply(ok, nil)
		}
	}
	switch r.Type {
	case "env":
		var kv struct{ Name, Value string }
		if ssh.Unmarshal(r.Payload, &kv) != nil || kv.Name == "" {
			reply(false)
			return
		}
		ss.env = append(ss.env, kv.Name+"="+kv.Value)
		reply(true)
	case "pty-req":
		var p proto.PtyRequest
		if ssh.Unmarshal(r.Payload, &p) != nil {
			reply(false)
			return
		}
		ss.pty = &p
		ss.win = proto.WindowChange{Cols: p.Cols, Rows: p.Rows}
		reply(true)
	case "window-change":
		var w proto.WindowChange
		if ssh.Unmarshal(r.Payload, &w) != nil {
			return
		}
		ss.mu.Lock()
		ss.win = w
		t := ss.target
		ss.mu.Unlock()
		if t != nil {
			_ = t.resize(uint16(w.Rows), uint16(w.Cols))
		}
	case "signal":
		var m proto.SignalMsg
		if ssh.Unmarshal(r.Payload, &m) != nil {
			return
		}
		sig, ok := proto.SignalNumber(m.Signal)
		ss.mu.Lock()
		t := ss.target
		ss.mu.Unlock()
		if ok && t != nil {
			_ = t.signal(syscall.Signal(sig))
		}
		reply(ok && t != nil)
	case "exec", "shell", "subsystem", proto.RequestExec, proto.RequestAttach:
		ss.mu.Lock()
		already := ss.started
		ss.started = true
		ss.mu.Unlock()
		if already {
			reply(false)
			return
		}
		ss.start(ctx, r, reply)
	default:
		reply(false)
	}
}

// start runs what r asks for, replying to it.
func (ss *session) start(ctx context.Context, r *ssh.Request, reply func(bool)) {
	switch r.Type {
	case proto.RequestExec:
		var p proto.ExecPayload
		if proto.Unmarshal(r.Payload, &p) != nil || len(p.Argv) == 0 {
			reply(false)
			return
		}
		reply(true)
		go ss.runExec(ctx, p)
	case "exec":
		var c struct{ Command string }
		if ssh.Unmarshal(r.Payload, &c) != nil {
			reply(false)
			return
		}
		reply(true)
		go ss.runLogin(ctx, func(u users.User) []string { return []string{u.Shell, "-c", c.Command} })
	case "shell":
		reply(true)
		go ss.runLogin(ctx, func(u users.User) []string { return []string{u.Shell} })
	case "subsystem":
		var sub struct{ Name string }
		if ssh.Unmarshal(r.Payload, &sub) != nil || sub.Name != "sftp" {
			reply(false)
			return
		}
		reply(true)
		go ss.sftp(ctx)
	case proto.RequestAttach:
		m := ss.s.opts.Main(ctx)
		if m == nil {
			reply(false)
			return
		}
		go ss.attach(ctx, m, reply)
	}
}

// runExec runs what a banger exec asks for; a container id that is not
// a name fails the start, saying so.
func (ss *session) runExec(ctx context.Context, p proto.ExecPayload) {
	spec, err := ss.execSpec(p)
	if err != nil {
		ss.fail(err, process.ExitNotExecutable)
		return
	}
	ss.run(ctx, spec)
}

// execSpec is what a banger exec runs: p over the main process's
// environment, working directory and user (docker exec's defaults), with
// the session's env requests between the two.
func (ss *session) execSpec(p proto.ExecPayload) (process.Spec, error) {
	if p.Container != "" {
		// A container's process: nothing of the VM's main process.
		root, err := ctrroot.RootOf(p.Container)
		if err != nil {
			return process.Spec{}, err
		}
		return process.Spec{Argv: p.Argv, Env: process.Merge(ss.env, p.Env), Dir: p.WorkingDir, User: p.User, Chroot: root}, nil
	}
	d := ss.defaults
	return process.Spec{
		Argv: p.Argv,
		Env:  process.Merge(process.Merge(d.Env, ss.env), p.Env),
		Dir:  firstNonEmpty(p.WorkingDir, d.Dir),
		User: firstNonEmpty(p.User, d.User),
	}, nil
}

// runLogin runs a command for an OpenSSH-style exec or shell: as the SSH
// user, in its home directory, through its shell, with sshd's variables.
func (ss *session) runLogin(ctx context.Context, argv func(users.User) []string) {
	u, dir, err := ss.loginUser()
	if err != nil {
		ss.fail(err, 1)
		return
	}
	env := process.Merge(ss.defaults.Env, []string{
		"USER=" + u.Name, "LOGNAME=" + u.Name, "HOME=" + u.Home, "SHELL=" + u.Shell,
	})
	args := argv(u)
	if len(args) == 1 { // a login shell: argv[0] is "-sh"
		spec := process.Spec{Argv: args, Env: process.Merge(env, ss.env), Dir: dir, User: ss.login}
		ss.runAs(ctx, spec, "-"+filepath.Base(args[0]))
		return
	}
	ss.run(ctx, process.Spec{Argv: args, Env: process.Merge(env, ss.env), Dir: dir, User: ss.login})
}

// loginUser resolves the SSH user and the directory its sessions start in:
// its home, or "/" when the image has none.
func (ss *session) loginUser() (users.User, string, error) {
	u, err := users.Lookup(ss.s.opts.Root, ss.login)
	if err != nil {
		return users.User{}, "", err
	}
	if fi, err := os.Stat(filepath.Join(ss.s.opts.Root, u.Home)); err != nil || !fi.IsDir() {
		return u, "/", nil
	}
	return u, u.Home, nil
}

func (ss *session) attach(ctx context.Context, m Main, reply func(bool)) {
	ss.mu.Lock()
	ss.target = mainTarget{m}
	win := ss.win
	ss.mu.Unlock()
	if win.Rows > 0 && win.Cols > 0 {
		_ = m.Resize(uint16(win.Rows), uint16(win.Cols))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ss.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	accepted := false
	status, err := m.Attach(ctx, mainproc.Attachment{Stdin: ss.ch, Stdout: ss.ch, Stderr: ss.ch.Stderr()}, func() {
		accepted = true
		reply(true)
	})
	if err != nil {
		if !accepted { // refused before streaming: another host is attached
			reply(false)
		} else { // the host left; output keeps buffering for the next one
			_ = ss.ch.Close()
		}
		return
	}
	ss.exit(status)
	select {
	case <-ss.closed:
		m.MarkCollected()
	case <-time.After(collectWait):
	}
}

type mainTarget struct{ m Main }

func (t mainTarget) signal(sig syscall.Signal) error { return t.m.Signal(sig) }
func (t mainTarget) resize(rows, cols uint16) error  { return t.m.Resize(rows, cols) }

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
