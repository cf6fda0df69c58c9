package vms

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/streamsync"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// liveVM is a VM whose VMM runs: its runtime (record, machine, agent) and
// the channels its exit watcher closes.
type liveVM struct {
	rt    *Runtime
	agent *agentLink

	// stopping is set by stop and kill, so the exit watcher knows the exit
	// was asked for; killed holds the ExitReason when the VMM had to be
	// killed.
	stopping atomic.Bool
	killed   atomic.Value
	// manual is set by a kill with any signal: the user ended the VM, which
	// unless-stopped and on-failure do not undo (stopping implies it).
	manual atomic.Bool
	// done is closed once the VMM exited and its runtime resources are
	// released; settled once its exit is fully handled (recorded, and the
	// VM removed when it was started with --rm).
	done    chan struct{}
	settled chan struct{}
}

func newLive(rt *Runtime, agent *agentLink) *liveVM {
	return &liveVM{rt: rt, agent: agent, done: make(chan struct{}), settled: make(chan struct{})}
}

func (lv *liveVM) id() string { return lv.rt.VM.ID }

// agentLink is a VM's one connection to its guest agent, dialed on first
// use and redialed after it breaks. Every exec, copy and shell is a
// channel on it.
type agentLink struct {
	machine vmm.Machine
	channel vmm.Channel
	hostKey ssh.PublicKey
	dial    AgentDialer
	vmID    string

	mu     sync.Mutex
	client Agent
}

// get returns the connection, dialing when there is none.
func (a *agentLink) get(ctx context.Context) (Agent, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		return a.client, nil
	}
	conn, err := a.machine.DialAgent(ctx)
	if err != nil {
		return nil, fmt.Errorf("vm %s: reach the guest agent: %w", a.vmID, err)
	}
	if a.channel == vmm.ChannelSerial {
		// One shared stream: start the session with the sync exchange
		// (package streamsync).
		if conn, err = streamsync.Host(ctx, conn); err != nil {
			return nil, fmt.Errorf("vm %s: %w", a.vmID, err)
		}
	}
	c, err := a.dial(ctx, conn, a.hostKey)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("vm %s: agent handshake: %w", a.vmID, err)
	}
	a.client = c
	go func() {
		_ = c.Wait()
		a.mu.Lock()
		if a.client == c {
			a.client = nil
		}
		a.mu.Unlock()
	}()
	return c, nil
}

// repin drops the connection and pins key for the next one: the agent
// serves another host key once it applied the VM's own config.
func (a *agentLink) repin(key ssh.PublicKey) {
	a.close()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hostKey = key
}

// close drops the connection (before the VMM goes away).
func (a *agentLink) close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.client != nil {
		_ = a.client.Close()
		a.client = nil
	}
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
	s.vms[lv.id()] = lv
}

// retire moves a VM whose VMM exited out of the running set until its
// exit is settled.
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

// running returns the live VM, or a conflict error saying it is not
// running.
func (s *Service) running(vm VM) (*liveVM, error) {
	lv := s.live.get(vm.ID)
	if lv == nil && vm.State == Restarting {
		return nil, fmt.Errorf("vm %s: %w: %w; wait until it runs, or stop it", vm.Name, errdefs.ErrConflict, errRestarting)
	}
	if lv == nil {
		return nil, fmt.Errorf("vm %s: %w: it is not running; start it with `banger start %s`", vm.Name, errdefs.ErrConflict, vm.Name)
	}
	return lv, nil
}

// lookupRunning finds a VM by ref and its live state, or says it is not
// running.
func (s *Service) lookupRunning(ref string) (VM, *liveVM, error) {
	vm, err := s.Get(ref)
	if err != nil {
		return vm, nil, err
	}
	lv, err := s.running(vm)
	return vm, lv, err
}

// Agent returns a running VM's agent session (the SSH front door proxies
// onto it).
func (s *Service) Agent(ctx context.Context, ref string) (*ssh.Client, error) {
	vm, lv, err := s.lookupRunning(ref)
	if err != nil {
		return nil, err
	}
	if err := refusePaused(vm); err != nil {
		return nil, err
	}
	c, err := lv.agent.get(ctx)
	if err != nil {
		return nil, err
	}
	return c.SSH(), nil
}
