package daemon

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/streamsync"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// liveVM is a VM whose VMM runs: the daemon's handle on the machine, its
// recovery record and its one agent connection.
type liveVM struct {
	id      string
	machine vmm.Machine
	backend string
	rec     *handles.Recorder
	hostKey ssh.PublicKey
	signer  ssh.Signer

	// stopping is set by stop and kill, so the exit watcher knows the exit
	// was asked for.
	stopping atomic.Bool
	// done is closed once the VMM exited and its runtime resources are
	// released; settled once its exit is fully handled (recorded, and the
	// VM removed when it was started with --rm).
	done    chan struct{}
	settled chan struct{}

	agentMu sync.Mutex
	agent   *agentclient.Client
}

// liveSet is the registry of running VMs, and of VMs whose exit is still
// being handled (so a wait can follow them to the end).
type liveSet struct {
	mu      sync.Mutex
	vms     map[string]*liveVM
	exiting map[string]*liveVM
}

func (s *liveSet) get(id string) *liveVM {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.vms[id]
}

func (s *liveSet) put(lv *liveVM) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vms == nil {
		s.vms = map[string]*liveVM{}
	}
	s.vms[lv.id] = lv
}

// retire moves a VM whose VMM exited out of the running set until its exit
// is settled.
func (s *liveSet) retire(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lv, ok := s.vms[id]; ok {
		if s.exiting == nil {
			s.exiting = map[string]*liveVM{}
		}
		s.exiting[id] = lv
	}
	delete(s.vms, id)
}

// forget drops a settled VM.
func (s *liveSet) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exiting, id)
}

// any returns a running or exiting VM.
func (s *liveSet) any(id string) *liveVM {
	s.mu.Lock()
	defer s.mu.Unlock()
	if lv, ok := s.vms[id]; ok {
		return lv
	}
	return s.exiting[id]
}

func (s *liveSet) all() []*liveVM {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*liveVM, 0, len(s.vms))
	for _, lv := range s.vms {
		out = append(out, lv)
	}
	return out
}

// agentClient returns the VM's agent connection, dialing (or redialing
// after the connection broke) when needed. Every exec, copy and shell is a
// channel on this one connection.
func (lv *liveVM) agentClient(ctx context.Context) (*agentclient.Client, error) {
	lv.agentMu.Lock()
	defer lv.agentMu.Unlock()
	if lv.agent != nil {
		return lv.agent, nil
	}
	conn, err := lv.machine.DialAgent(ctx)
	if err != nil {
		return nil, fmt.Errorf("vm %s: reach the guest agent: %w", lv.id, err)
	}
	if lv.backend == qemu.Name {
		// A virtio-serial port is one shared stream: start the session
		// with the sync exchange (package streamsync).
		if conn, err = streamsync.Host(ctx, conn); err != nil {
			return nil, fmt.Errorf("vm %s: %w", lv.id, err)
		}
	}
	c, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: lv.hostKey, Signer: lv.signer})
	if err != nil {
		return nil, fmt.Errorf("vm %s: agent handshake: %w", lv.id, err)
	}
	lv.agent = c
	go func() {
		_ = c.Wait()
		lv.agentMu.Lock()
		if lv.agent == c {
			lv.agent = nil
		}
		lv.agentMu.Unlock()
	}()
	return c, nil
}

// closeAgent drops the agent connection (before the VMM goes away).
func (lv *liveVM) closeAgent() {
	lv.agentMu.Lock()
	defer lv.agentMu.Unlock()
	if lv.agent != nil {
		_ = lv.agent.Close()
		lv.agent = nil
	}
}

// running returns the live VM for id, or a conflict error saying the VM is
// not running.
func (d *Daemon) running(id, name string) (*liveVM, error) {
	lv := d.live.get(id)
	if lv == nil {
		return nil, fmt.Errorf("vm %s: %w: it is not running; start it with `banger start %s`", name, errdefs.ErrConflict, name)
	}
	return lv, nil
}
