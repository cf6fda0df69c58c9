// Package sshd is banger-agent's SSH server: the one protocol the host
// speaks to a guest, over whatever byte stream the VMM offers
// (virtio-serial, vsock, TCP). It serves standard OpenSSH sessions (exec,
// shell, pty, env, signals, window changes, the sftp subsystem),
// direct-tcpip and direct-streamlocal forwarding, and banger's requests
// (see package proto): exact-argv exec, attaching to the main process,
// shutdown and info.
//
// Authentication is public-key only, against the keys the host put in the
// boot config; the host key is the host-generated one it pins. The SSH user
// name picks the default user for exec and shell, as with sshd.
package sshd

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/mainproc"
	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/procfs"
)

// Main is the main process as the server sees it (mainproc.Main).
type Main interface {
	Attach(ctx context.Context, a mainproc.Attachment, accepted func()) (int, error)
	Signal(sig syscall.Signal) error
	Resize(rows, cols uint16) error
	MarkCollected()
}

// Options configure a Server.
type Options struct {
	// Identity is the server's until SetIdentity changes it.
	Identity Identity
	// Root is the guest's "/" (for user and PATH lookups); empty means "/".
	Root   string
	Reaper *process.Reaper
	// Main returns the main process, waiting (until ctx ends) for it to be
	// started; nil when there is none.
	Main func(ctx context.Context) Main
	// Shutdown is called (in its own goroutine) on a shutdown request.
	Shutdown func(proto.ShutdownPayload)
	// Signal signals the main process (a signal request).
	Signal func(proto.SignalPayload) error
	// Sync flushes the file systems (a sync request); nil is unix.Sync.
	Sync func()
	// Info answers an info request.
	Info func() proto.InfoPayload
	// Apply applies a held boot's config (an apply request); nil refuses
	// it as an older agent would.
	Apply func(proto.ApplyPayload) error
	// Reidentify gives a running VM (a fork) a new identity (a
	// re-identify request); nil refuses it as an older agent would.
	Reidentify func(proto.ApplyPayload) error
	// Container makes or removes a container's root (a container
	// request); nil refuses it as an older agent would.
	Container func(proto.ContainerPayload) error
	// SFTPServer is the argv of an sftp server on stdin/stdout
	// (banger-agent sftp-server) run as the session's user when that is
	// not the agent's own; empty serves sftp in-process only.
	SFTPServer []string
	// Logf logs; nil discards.
	Logf func(format string, args ...any)
}

// Server serves the agent's SSH protocol.
type Server struct {
	opts Options

	mu        sync.Mutex
	identity  *connIdentity
	closed    bool
	listeners map[net.Listener]bool
	conns     map[net.Conn]bool
	wg        sync.WaitGroup
}

// New returns a server for o.
func New(o Options) (*Server, error) {
	ci, err := newConnIdentity(o.Identity)
	if err != nil {
		return nil, err
	}
	if o.Root == "" {
		o.Root = "/"
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.Main == nil {
		o.Main = func(context.Context) Main { return nil }
	}
	return &Server{opts: o, identity: ci, listeners: map[net.Listener]bool{}, conns: map[net.Conn]bool{}}, nil
}

// Serve accepts connections on l until l fails or the server closes.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners[l] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		s.wg.Go(func() { s.ServeConn(c) })
	}
}

// ServeConn serves one connection until it ends, and closes it.
func (s *Server) ServeConn(c net.Conn) {
	defer func() { _ = c.Close() }()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.conns[c] = true
	id := s.identity
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	sconn, chans, reqs, err := ssh.NewServerConn(c, id.config)
	if err != nil {
		s.opts.Logf("ssh handshake: %v", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.globalRequests(reqs)
	var wg sync.WaitGroup
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			wg.Go(func() { s.session(ctx, sconn.User(), id.defaults, nc) })
		case proto.ChannelExec:
			wg.Go(func() { s.execSession(ctx, sconn.User(), id.defaults, nc) })
		case "direct-tcpip":
			wg.Go(func() { s.directTCPIP(nc) })
		case "direct-streamlocal@openssh.com":
			wg.Go(func() { s.directStreamLocal(nc) })
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "banger-agent does not open "+nc.ChannelType()+" channels")
		}
	}
	cancel()
	wg.Wait()
}

func (s *Server) globalRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		switch r.Type {
		case proto.RequestKeepalive:
			_ = r.Reply(true, nil)
		case proto.RequestMemory:
			m, err := procfs.FS{Root: filepath.Join(s.opts.Root, "proc")}.Meminfo()
			if err != nil {
				s.opts.Logf("memory request: %v", err)
				_ = r.Reply(false, []byte(err.Error()))
				continue
			}
			_ = r.Reply(true, proto.Marshal(proto.MemoryPayload{TotalBytes: m.TotalBytes, AvailableBytes: m.AvailableBytes}))
		case proto.RequestProcesses:
			// In its own goroutine: a guest with many processes takes
			// a while, and keepalives must still be answered.
			go func(r *ssh.Request) {
				_ = r.Reply(true, proto.Marshal(proto.ProcessesPayload{Processes: processes(s.opts.Root)}))
			}(r)
		case proto.RequestInfo:
			info := proto.InfoPayload{Main: proto.MainNone}
			if s.opts.Info != nil {
				info = s.opts.Info()
			}
			_ = r.Reply(true, proto.Marshal(info))
		case proto.RequestShutdown:
			var p proto.ShutdownPayload
			if len(r.Payload) > 0 && proto.Unmarshal(r.Payload, &p) != nil || s.opts.Shutdown == nil {
				_ = r.Reply(false, nil)
				continue
			}
			_ = r.Reply(true, nil)
			go s.opts.Shutdown(p)
		case proto.RequestSignal:
			var p proto.SignalPayload
			if len(r.Payload) > 0 && proto.Unmarshal(r.Payload, &p) != nil || s.opts.Signal == nil {
				_ = r.Reply(false, nil)
				continue
			}
			// It may wait for the main process to start.
			go s.replyWhenDone(r, "signal", func() error { return s.opts.Signal(p) })
		case proto.RequestApply, proto.RequestReidentify:
			what, do := "apply", s.opts.Apply
			if r.Type == proto.RequestReidentify {
				what, do = "re-identify", s.opts.Reidentify
			}
			var p proto.ApplyPayload
			if proto.Unmarshal(r.Payload, &p) != nil || do == nil {
				_ = r.Reply(false, nil)
				continue
			}
			// Growing the root, starting the main process, bringing a
			// NIC up take a while.
			go s.replyWhenDone(r, what, func() error { return do(p) })
		case proto.RequestContainer:
			var p proto.ContainerPayload
			if proto.Unmarshal(r.Payload, &p) != nil || s.opts.Container == nil {
				_ = r.Reply(false, nil)
				continue
			}
			go s.replyWhenDone(r, "container", func() error { return s.opts.Container(p) })
		case proto.RequestSync:
			// In its own goroutine: a sync of a busy disk takes a while,
			// and keepalives must still be answered.
			go func(r *ssh.Request) {
				sync := s.opts.Sync
				if sync == nil {
					sync = unix.Sync
				}
				sync()
				_ = r.Reply(true, nil)
			}(r)
		default:
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
	}
}

// replyWhenDone runs a request's work (in a goroutine of its own, so
// keepalives are still answered meanwhile) and replies true, or false
// with the error's text.
func (s *Server) replyWhenDone(r *ssh.Request, what string, work func() error) {
	if err := work(); err != nil {
		s.opts.Logf("%s request: %v", what, err)
		_ = r.Reply(false, []byte(err.Error()))
		return
	}
	_ = r.Reply(true, nil)
}

// Close stops every listener and connection and waits for their handlers.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
