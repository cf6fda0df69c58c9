package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/agent/ctrroot"
	"github.com/bangerdev/banger/internal/agent/mainproc"
	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agent/sshd"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// signalStartWait bounds how long a signal request waits for the main
// process to be started.
const signalStartWait = 30 * time.Second

// shutdownCollectWait bounds waiting for an attached host to collect the
// status of a main process stopped by a shutdown.
const shutdownCollectWait = 2 * time.Second

// Halt ends the VM (PID 1: sync and reboot(2)); in a test it records.
type Halt func(reboot bool)

// ServiceOptions are what the service needs from its environment.
type ServiceOptions struct {
	// Console receives the machine-readable status lines (PID 1: the
	// kernel console).
	Console io.Writer
	// Root is the guest's "/" ("" = "/").
	Root   string
	Reaper *process.Reaper
	// Halt is called once, when the VM should end.
	Halt Halt
	// PID1 is reported in Info.
	PID1 bool
	// SFTPServer is the argv running an sftp server as another user.
	SFTPServer []string
	// MainCgroup, when set, makes the cgroup the main process starts in
	// (PID 1: see package cgroup); an error is logged and the process
	// starts without one.
	MainCgroup func() (*os.File, error)
	// Configure is PID 1's part of a held boot's apply (Service.Apply):
	// the clock, the entropy pool, the root made writable, the VM's
	// identity and volumes. Nil does none of it (serve mode, tests).
	Configure func(cfg bootcfg.Config, now time.Time) error
	// Reidentify is PID 1's part of a fork's re-identify
	// (Service.Reidentify): the clock, the entropy pool, the new name and
	// network; prev is the config the VM ran with. Nil refuses
	// re-identifies (an agent that is not PID 1 cannot do this).
	Reidentify func(prev, cfg bootcfg.Config, now time.Time) error
	// Containers makes and removes the roots of a pod VM's containers
	// (a container request; PID 1: ctrroot.Linux). Nil refuses them.
	Containers ctrroot.System
	Logf       func(format string, args ...any)
}

// Service is the agent minus PID-1 duties: the main process, the SSH
// server, and the decision when the VM ends. It is what runs in tests and
// in `banger-agent serve`, and inside PID 1.
//
// A Service for a held config (bootcfg.Config.Hold) serves SSH and
// starts nothing until the host's apply brings the VM's own config
// (Apply); see hold.go.
type Service struct {
	opts ServiceOptions
	srv  *sshd.Server

	mu   sync.Mutex
	cfg  bootcfg.Config // the held config until Apply replaces it
	hold holdState
	// reidentifying: a re-identify is under way (reidentify.go).
	reidentifying bool
	main          *mainproc.Main
	// applied is closed when Apply hands Run the VM's config.
	applied chan struct{}
	// started is closed once main is set, or Run knows there will be
	// none (no main process, or the VM ended while held).
	started     chan struct{}
	startedOnce sync.Once
	shutdown    chan proto.ShutdownPayload
	once        sync.Once
}

// NewService prepares the service for cfg (the SSH server's keys and
// defaults); Run starts the main process.
func NewService(cfg bootcfg.Config, o ServiceOptions) (*Service, error) {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Console == nil {
		o.Console = io.Discard
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	id, err := identityOf(cfg)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, opts: o, hold: notHeld,
		applied: make(chan struct{}), started: make(chan struct{}), shutdown: make(chan proto.ShutdownPayload, 1),
	}
	if cfg.Hold {
		s.hold = held
	}
	s.srv, err = sshd.New(sshd.Options{
		Identity:   id,
		Root:       o.Root,
		Reaper:     o.Reaper,
		Main:       s.mainForSSH,
		Shutdown:   s.Shutdown,
		Signal:     s.Signal,
		Info:       s.info,
		Apply:      s.Apply,
		Reidentify: s.Reidentify,
		Container:  s.containerFunc(),
		SFTPServer: o.SFTPServer,
		Logf:       o.Logf,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Serve serves the SSH protocol on l until l or the service closes.
func (s *Service) Serve(l net.Listener) error { return s.srv.Serve(l) }

// ServeConn serves one connection.
func (s *Service) ServeConn(c net.Conn) { s.srv.ServeConn(c) }

// Close stops the SSH server.
func (s *Service) Close() error { return s.srv.Close() }

// Main returns the main process, once started (nil without one).
func (s *Service) Main() *mainproc.Main {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.main
}

// mainForSSH waits for Run to start the main process: a host may attach
// while the agent still boots (growing the root file system, say).
func (s *Service) mainForSSH(ctx context.Context) sshd.Main {
	select {
	case <-s.started:
	case <-ctx.Done():
		return nil
	}
	if m := s.Main(); m != nil {
		return m
	}
	return nil
}

func (s *Service) info() proto.InfoPayload {
	s.mu.Lock()
	info := proto.InfoPayload{Version: version.Version, VMID: s.cfg.VMID, PID1: s.opts.PID1, Main: proto.MainNone, Held: s.hold.isHeld()}
	s.mu.Unlock()
	if m := s.Main(); m != nil {
		info.Main = proto.MainRunning
		select {
		case <-m.Done():
			info.Main, info.ExitCode = proto.MainExited, m.Status()
		default:
		}
	}
	return info
}

// Shutdown asks Run to stop the main process and end the VM (SIGTERM to
// the agent, a host's request, the power button, Ctrl-Alt-Del).
func (s *Service) Shutdown(p proto.ShutdownPayload) {
	select {
	case s.shutdown <- p:
	default: // one is pending already
	}
}

// Run starts the main process (when the config has one) and blocks until
// the VM should end, then calls Halt: after the main process exited and a
// host collected its status (or ExitWait passed), as a container ends with
// its main process; or after a shutdown stopped it. A VM without a main
// process runs until it is shut down. ctx ending returns without halting.
// A held Service first waits for Apply; a shutdown while held halts.
func (s *Service) Run(ctx context.Context) {
	defer s.markStarted()
	if !s.awaitApply(ctx) {
		return
	}
	cfg := s.config()
	var done <-chan struct{}
	if c := cfg.Main; c != nil {
		m := s.startMain(cfg, c)
		s.mu.Lock()
		s.main = m
		s.mu.Unlock()
		done = m.Done()
	}
	s.markStarted()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			m := s.Main()
			_, _ = fmt.Fprintln(s.opts.Console, m.Exit().Line())
			s.awaitCollect(ctx, m, cfg.ExitWait())
			s.halt(false)
			return
		case p := <-s.shutdown:
			if m := s.Main(); m != nil {
				m.Stop(ctx, s.stopSignal(p), s.grace(p))
				select {
				case <-m.Done():
					if done != nil { // not reported yet
						_, _ = fmt.Fprintln(s.opts.Console, m.Exit().Line())
					}
				default:
				}
				s.awaitCollect(ctx, m, min(cfg.ExitWait(), shutdownCollectWait))
			}
			s.halt(p.Reboot)
			return
		}
	}
}

// startMain starts the main process, first making its working directory
// when it does not exist (owned by its user, as docker does for -w). A
// process that cannot start is a Main that exited at once with a shell's
// status for the failure (126, 127).
func (s *Service) startMain(cfg bootcfg.Config, c *bootcfg.Process) *mainproc.Main {
	spec := process.Spec{Argv: c.Argv, Env: c.Env, Dir: c.WorkingDir, User: c.User}
	if err := process.EnsureDir(s.opts.Root, spec); err != nil {
		_, _ = fmt.Fprintf(s.opts.Console, "banger-agent: main: %v\n", err)
		return mainproc.Failed(err, process.ExitNotExecutable)
	}
	o := mainproc.Options{
		Spec:   spec,
		TTY:    c.TTY,
		Stdin:  c.Stdin,
		Ring:   cfg.Detached,
		Root:   s.opts.Root,
		Reaper: s.opts.Reaper,
	}
	if s.opts.MainCgroup != nil {
		if g, err := s.opts.MainCgroup(); err != nil {
			_, _ = fmt.Fprintf(s.opts.Console, "banger-agent: main runs without a memory limit: %v\n", err)
		} else {
			o.Cgroup = g
			defer func() { _ = g.Close() }()
		}
	}
	m, err := mainproc.Start(o)
	if err != nil {
		_, _ = fmt.Fprintf(s.opts.Console, "banger-agent: main: %v\n", err)
		return mainproc.Failed(err, process.StartCode(err))
	}
	return m
}

// stopSignal is what a shutdown sends the main process first: the host's
// choice, else the image's STOPSIGNAL, else SIGTERM.
func (s *Service) stopSignal(p proto.ShutdownPayload) syscall.Signal {
	name := p.Signal
	if c := s.config().Main; name == "" && c != nil {
		name = c.StopSignal
	}
	sig, err := proto.ParseSignal(name, syscall.SIGTERM)
	if err != nil {
		s.opts.Logf("stop signal: %v; sending TERM", err)
		return syscall.SIGTERM
	}
	return sig
}

// grace is how long the main process gets between the stop signal and
// SIGKILL.
func (s *Service) grace(p proto.ShutdownPayload) time.Duration {
	switch {
	case p.Now:
		return 0
	case p.GraceMS > 0:
		return time.Duration(p.GraceMS) * time.Millisecond
	default:
		return s.config().StopGrace()
	}
}

// Signal sends sig to the main process (`banger kill`); the VM then ends
// when the process does. A VM without a main process has nothing to
// signal: it is shut down at once.
func (s *Service) Signal(p proto.SignalPayload) error {
	sig, err := proto.ParseSignal(p.Signal, syscall.SIGKILL)
	if err != nil {
		return err
	}
	if err := s.signalHeld(); err != nil {
		return err
	}
	// A kill right after the start may come before Run started the main
	// process: it is for the process all the same.
	select {
	case <-s.started:
	case <-time.After(signalStartWait):
		return fmt.Errorf("the main process did not start within %v: %w", signalStartWait, errdefs.ErrConflict)
	}
	m := s.Main()
	if m == nil {
		s.Shutdown(proto.ShutdownPayload{Now: true})
		return nil
	}
	return m.Signal(sig)
}

func (s *Service) awaitCollect(ctx context.Context, m *mainproc.Main, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-m.Collected():
	case <-t.C:
	case <-ctx.Done():
	}
}

func (s *Service) halt(reboot bool) {
	s.once.Do(func() {
		if s.opts.Halt != nil {
			s.opts.Halt(reboot)
		}
	})
}
