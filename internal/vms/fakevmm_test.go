package vms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
)

// fakeBackends is a vmm.Set of one fake backend.
type fakeBackends struct {
	h *host
	b *fakeBackend
}

func (f fakeBackends) Pick(context.Context, string) (vmm.Backend, vmm.Probe, error) {
	if err := f.h.do("backend.pick"); err != nil {
		return nil, vmm.Probe{}, err
	}
	return f.b, vmm.Probe{Available: true, Accel: "tcg"}, nil
}

func (f fakeBackends) Get(name string) (vmm.Backend, bool) {
	if name != f.b.Name() {
		return nil, false
	}
	return f.b, true
}

func (f fakeBackends) Backends() []vmm.Backend { return []vmm.Backend{f.b} }

// fakeBackend starts fakeMachines. Its machines' process identity is this
// test process's own (alive, never signalled), unless dead is set.
type fakeBackend struct {
	h    *host
	caps vmm.Capabilities
	// recordThenFail makes Start record handles and then fail.
	recordThenFail bool
	// specs are the specs Start and Restore were given; restores what
	// Restore was asked to load.
	specs    []vmm.Spec
	restores []vmm.RestoreSpec
}

func (b *fakeBackend) Name() string                    { return "fake" }
func (b *fakeBackend) Probe(context.Context) vmm.Probe { return vmm.Probe{Available: true} }
func (b *fakeBackend) Capabilities() vmm.Capabilities  { return b.caps }

// handles are a fake machine's: the agent "socket" names the VM, and the
// process is this test process (alive, and never signalled: releases go
// through the fake).
func (b *fakeBackend) handles(id string) vmm.Handles {
	self, _ := proc.Lookup(os.Getpid())
	return vmm.Handles{Backend: b.Name(), Process: self, Sockets: map[string]string{"agent": "fake:" + id}}
}

func (b *fakeBackend) Start(_ context.Context, spec vmm.Spec) (vmm.Machine, error) {
	if spec.Record != nil {
		if err := spec.Record(b.handles(spec.ID)); err != nil {
			return nil, err
		}
	}
	if err := b.h.do("vmm.start"); err != nil {
		return nil, err
	}
	b.h.mu.Lock()
	b.specs = append(b.specs, spec)
	b.h.mu.Unlock()
	if b.recordThenFail {
		return nil, errors.New("vmm died at once")
	}
	m := newFakeMachine(b.h, spec.ID, b.handles(spec.ID), spec.ConsoleLog)
	m.guest = guestOf(spec)
	b.h.mu.Lock()
	b.h.machines[spec.ID] = m
	b.h.cgroups[spec.ID] = true
	b.h.mu.Unlock()
	return m, nil
}

func (b *fakeBackend) Attach(_ context.Context, h vmm.Handles) (vmm.Machine, error) {
	id := strings.TrimPrefix(h.Sockets["agent"], "fake:")
	if err := b.h.do("vmm.attach"); err != nil {
		return nil, err
	}
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	m, ok := b.h.machines[id]
	if !ok || !m.alive() {
		return nil, errors.New("no such machine")
	}
	return m, nil
}

func (b *fakeBackend) Release(_ context.Context, h vmm.Handles) error {
	id := strings.TrimPrefix(h.Sockets["agent"], "fake:")
	if err := b.h.do("vmm.release"); err != nil {
		return err
	}
	b.h.mu.Lock()
	m := b.h.machines[id]
	delete(b.h.cgroups, id)
	b.h.mu.Unlock()
	if m != nil {
		m.exit(-1)
	}
	return nil
}

// Owned implements vmm.Sweeper: the machines' cgroups, named by VM id as
// QEMU's are.
func (b *fakeBackend) Owned() ([]vmm.Owned, error) {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	var out []vmm.Owned
	for id := range b.h.cgroups {
		out = append(out, vmm.Owned{Kind: "cgroup", Name: "vm-" + id, VMID: id})
	}
	return out, nil
}

// Sweep implements vmm.Sweeper: it removes VM id's cgroup, recorded or not.
func (b *fakeBackend) Sweep(id string) error {
	b.h.mu.Lock()
	had := b.h.cgroups[id]
	delete(b.h.cgroups, id)
	b.h.mu.Unlock()
	if had {
		return b.h.do("vmm.sweep")
	}
	return nil
}

// fakeMachine is a VMM that runs until killed, shut down, or its guest
// "powers off" (exit).
type fakeMachine struct {
	h       *host
	id      string
	hd      vmm.Handles
	console string

	once   sync.Once
	exited chan struct{}
	code   int
	// ignoreShutdown makes the guest ignore the power button.
	ignoreShutdown bool
	// paused is closed while the vCPUs run; a paused guest's agent
	// answers nothing until it is resumed.
	pmu     sync.Mutex
	resumed chan struct{}
	// guest is what its agent serves (fakesnap_test.go).
	guest *fakeGuest
}

func newFakeMachine(h *host, id string, hd vmm.Handles, console string) *fakeMachine {
	r := make(chan struct{})
	close(r)
	return &fakeMachine{h: h, id: id, hd: hd, console: console, exited: make(chan struct{}), resumed: r, guest: &fakeGuest{}}
}

// Pause implements vmm.Pauser.
func (m *fakeMachine) Pause(context.Context) error {
	if err := m.h.do("vmm.pause"); err != nil {
		return err
	}
	m.pmu.Lock()
	defer m.pmu.Unlock()
	m.resumed = make(chan struct{})
	return nil
}

// Resume implements vmm.Pauser.
func (m *fakeMachine) Resume(context.Context) error {
	if err := m.h.do("vmm.resume"); err != nil {
		return err
	}
	m.pmu.Lock()
	defer m.pmu.Unlock()
	select {
	case <-m.resumed:
	default:
		close(m.resumed)
	}
	return nil
}

// running returns a channel closed while (or once) the vCPUs run.
func (m *fakeMachine) running() <-chan struct{} {
	m.pmu.Lock()
	defer m.pmu.Unlock()
	return m.resumed
}

func (m *fakeMachine) paused() bool {
	select {
	case <-m.running():
		return false
	default:
		return true
	}
}

func (m *fakeMachine) alive() bool {
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// exit ends the machine with code, once.
func (m *fakeMachine) exit(code int) {
	m.once.Do(func() { m.code = code; close(m.exited) })
}

// powerOff is the guest's main process ending as e says: the agent
// prints its exit line on the console and powers off.
func (m *fakeMachine) powerOff(e proto.Exit) {
	if m.console != "" {
		f, err := os.OpenFile(m.console, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = fmt.Fprintln(f, e.Line())
			_ = f.Close()
		}
	}
	m.exit(0)
}

func (m *fakeMachine) Handles() vmm.Handles { return m.hd }

func (m *fakeMachine) DialAgent(context.Context) (net.Conn, error) {
	if err := m.h.do("agent.dial"); err != nil {
		return nil, err
	}
	if !m.alive() {
		return nil, errors.New("vmm exited")
	}
	a, b := net.Pipe()
	go func() { <-m.exited; _ = b.Close() }()
	return machineConn{a, m}, nil
}

// machineConn is a connection to a fake machine's agent; the fake dialer
// finds the machine through it.
type machineConn struct {
	net.Conn
	m *fakeMachine
}

func (m *fakeMachine) Status(context.Context) (vmm.Status, error) {
	if m.alive() && m.paused() {
		return vmm.StatusPaused, nil
	}
	if m.alive() {
		return vmm.StatusRunning, nil
	}
	return vmm.StatusStopped, nil
}

func (m *fakeMachine) Shutdown(ctx context.Context) error {
	_ = m.h.do("vmm.shutdown")
	if !m.ignoreShutdown {
		m.exit(0)
	}
	_, err := m.Wait(ctx)
	return err
}

// Kill kills a running machine; a machine that exited has nothing to
// kill (and logs nothing).
func (m *fakeMachine) Kill(context.Context) error {
	if !m.alive() {
		return nil
	}
	if err := m.h.do("vmm.kill"); err != nil {
		return err
	}
	m.exit(-1)
	return nil
}

func (m *fakeMachine) Wait(ctx context.Context) (vmm.Exit, error) {
	select {
	case <-m.exited:
		return vmm.Exit{Code: m.code}, nil
	case <-ctx.Done():
		return vmm.Exit{}, ctx.Err()
	}
}

func (m *fakeMachine) Cleanup() error {
	if err := m.h.do("vmm.cleanup"); err != nil {
		return err
	}
	m.h.mu.Lock()
	delete(m.h.cgroups, m.id)
	m.h.mu.Unlock()
	return nil
}
