package vms

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
)

// host is the fake host every fake below acts on: what exists now, and
// the ordered log of what was done to it. Tests assert on both.
type host struct {
	mu   sync.Mutex
	ops  []string
	fail map[string]error // op name -> error to return
	// onOp, when set, sees every op before it happens.
	onOp func(op string)

	taps     map[string]bool // vm id -> tap exists
	leases   map[string]bool // vm id -> lease held
	dm       map[string]bool // vm id -> dm devices up
	machines map[string]*fakeMachine
}

func newHost() *host {
	return &host{fail: map[string]error{}, taps: map[string]bool{}, leases: map[string]bool{}, dm: map[string]bool{}, machines: map[string]*fakeMachine{}}
}

// do logs op and returns its injected failure, if any.
func (h *host) do(op string) error {
	h.mu.Lock()
	h.ops = append(h.ops, op)
	err, hook := h.fail[op], h.onOp
	h.mu.Unlock()
	if hook != nil {
		hook(op)
	}
	return err
}

func (h *host) failOn(op string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail[op] = err
}

func (h *host) log() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ops)
}

func (h *host) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = nil
}

func (h *host) did(op string) bool { return slices.Contains(h.log(), op) }

// running is the VM ids whose fake VMM runs.
func (h *host) running() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for id, m := range h.machines {
		if m.alive() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// fakeCatalog serves one busybox image and one kernel.
type fakeCatalog struct{ h *host }

func (c fakeCatalog) Image(ref string) (Image, error) {
	if err := c.h.do("catalog.image"); err != nil {
		return Image{}, err
	}
	if ref != "busybox" && ref != "img0123" {
		return Image{}, fmt.Errorf("image %q: not found", ref)
	}
	return Image{ID: "img0123", Name: "busybox", Rootfs: "/images/busybox.ext4", SizeBytes: 1 << 20, AgentVersion: "test",
		Config: imagepull.Config{Cmd: []string{"sh"}}}, nil
}

func (c fakeCatalog) Kernel(name string) (Kernel, error) {
	if err := c.h.do("catalog.kernel"); err != nil {
		return Kernel{}, err
	}
	return Kernel{Name: "k1", Vmlinux: "/kernels/k1/vmlinux"}, nil
}

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

// fakeBackend starts fakeMachines. Its machines' process identity is this
// test process's own (alive, never signalled), unless dead is set.
type fakeBackend struct {
	h    *host
	caps vmm.Capabilities
	// recordThenFail makes Start record handles and then fail.
	recordThenFail bool
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
	if b.recordThenFail {
		return nil, errors.New("vmm died at once")
	}
	m := newFakeMachine(b.h, spec.ID, b.handles(spec.ID), spec.ConsoleLog)
	b.h.mu.Lock()
	b.h.machines[spec.ID] = m
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
	b.h.mu.Unlock()
	if m != nil {
		m.exit(-1)
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
}

func newFakeMachine(h *host, id string, hd vmm.Handles, console string) *fakeMachine {
	return &fakeMachine{h: h, id: id, hd: hd, console: console, exited: make(chan struct{})}
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

// powerOff is the guest's main process ending with status: the agent
// prints its exit line on the console and powers off.
func (m *fakeMachine) powerOff(status int) {
	if m.console != "" {
		f, err := os.OpenFile(m.console, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = fmt.Fprintf(f, "banger-agent: main exited status=%d\n", status)
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

func (m *fakeMachine) Cleanup() error { return m.h.do("vmm.cleanup") }

// fakeAgent is the guest agent's session; Shutdown powers the guest off
// unless the machine ignores it.
type fakeAgent struct {
	m      *fakeMachine
	closed chan struct{}
	once   sync.Once
}

func (a *fakeAgent) SSH() *ssh.Client { return nil }
func (a *fakeAgent) Shutdown(context.Context) error {
	_ = a.m.h.do("agent.shutdown")
	if !a.m.ignoreShutdown {
		go a.m.powerOff(0)
	}
	return nil
}
func (a *fakeAgent) Close() error { a.once.Do(func() { close(a.closed) }); return nil }
func (a *fakeAgent) Wait() error  { <-a.closed; return nil }

func (h *host) dialer() AgentDialer {
	return func(_ context.Context, conn net.Conn, _ ssh.PublicKey) (Agent, error) {
		if err := h.do("agent.handshake"); err != nil {
			return nil, err
		}
		mc, ok := conn.(machineConn)
		if !ok {
			return nil, fmt.Errorf("dialer got a %T, not a fake machine's connection", conn)
		}
		_ = conn.Close()
		return &fakeAgent{m: mc.m, closed: make(chan struct{})}, nil
	}
}

// fakeDisks makes disk files in the VM's directory.
type fakeDisks struct {
	h  *host
	dm bool // the host has device-mapper (and the backend no qcow2)
}

func (d fakeDisks) Probe(string) rootfs.Capabilities {
	c := rootfs.Capabilities{Reflink: errors.New("no reflink"), QemuImg: errors.New("no qemu-img"), DM: errors.New("no dm")}
	if d.dm {
		c.DM = nil
	}
	return c
}

func (d fakeDisks) Create(ctx context.Context, req rootfs.Request, strategy string, record func(rootfs.Disk) error) (rootfs.Disk, error) {
	disk := rootfs.Disk{Path: rootfs.DiskPath(req.Dir, strategy), Format: "raw", Strategy: strategy}
	if strategy == rootfs.DMSnapshot {
		return d.Activate(ctx, req, record)
	}
	if err := record(disk); err != nil {
		return rootfs.Disk{}, err
	}
	if err := d.h.do("disk.create"); err != nil {
		return rootfs.Disk{}, err
	}
	return disk, os.WriteFile(disk.Path, []byte("disk"), 0o600)
}

func (d fakeDisks) Activate(_ context.Context, req rootfs.Request, record func(rootfs.Disk) error) (rootfs.Disk, error) {
	disk := rootfs.Disk{Path: "/dev/mapper/banger-" + req.VMID, Format: "raw", Strategy: rootfs.DMSnapshot}
	if err := record(disk); err != nil {
		return rootfs.Disk{}, err
	}
	if err := d.h.do("disk.activate"); err != nil {
		return rootfs.Disk{}, err
	}
	d.h.mu.Lock()
	d.h.dm[req.VMID] = true
	d.h.mu.Unlock()
	return disk, os.WriteFile(rootfs.DiskPath(req.Dir, rootfs.DMSnapshot), []byte("cow"), 0o600)
}

func (d fakeDisks) Deactivate(_ context.Context, vmID string) error {
	if err := d.h.do("disk.deactivate"); err != nil {
		return err
	}
	d.h.mu.Lock()
	delete(d.h.dm, vmID)
	d.h.mu.Unlock()
	return nil
}

func (d fakeDisks) Remove(ctx context.Context, vmID, dir string) error {
	if err := d.h.do("disk.remove"); err != nil {
		return err
	}
	for _, s := range []string{rootfs.Copy, rootfs.QCOW2, rootfs.DMSnapshot} {
		_ = os.Remove(rootfs.DiskPath(dir, s))
	}
	return d.Deactivate(ctx, vmID)
}

// fakeNetwork leases, attaches and detaches, as hostnet does.
type fakeNetwork struct{ h *host }

func (n fakeNetwork) Setup(context.Context) error { return n.h.do("net.setup") }

func (n fakeNetwork) Attach(_ context.Context, vmID string, ports []hostnet.Port, record func(hostnet.Resources) error) (hostnet.Attachment, error) {
	n.h.mu.Lock()
	n.h.leases[vmID] = true
	n.h.mu.Unlock()
	r := hostnet.Resources{Tap: hostnet.TapName(vmID), IP: "10.0.0.5", MAC: "02:00:00:00:00:05", Marker: hostnet.Marker(vmID), Ports: ports}
	if err := record(r); err != nil {
		return hostnet.Attachment{}, err
	}
	if err := n.h.do("net.attach"); err != nil {
		return hostnet.Attachment{}, err // hostnet undoes its tap itself
	}
	n.h.mu.Lock()
	n.h.taps[vmID] = true
	n.h.mu.Unlock()
	lease := hostnet.Lease{VMID: vmID, IP: netip.MustParseAddr("10.0.0.5"), Subnet: netip.MustParsePrefix("10.0.0.0/24"),
		Gateway: netip.MustParseAddr("10.0.0.1"), MAC: r.MAC, Tap: r.Tap, MTU: 1500}
	return hostnet.Attachment{Lease: lease, Resources: r}, nil
}

func (n fakeNetwork) Detach(_ context.Context, vmID string) error {
	if err := n.h.do("net.detach"); err != nil {
		return err
	}
	n.h.mu.Lock()
	delete(n.h.taps, vmID)
	n.h.mu.Unlock()
	return nil
}

func (n fakeNetwork) Release(_ context.Context, vmID string) error {
	if err := n.h.do("net.release"); err != nil {
		return err
	}
	n.h.mu.Lock()
	delete(n.h.leases, vmID)
	n.h.mu.Unlock()
	return nil
}

func (n fakeNetwork) Inventory(context.Context) (hostnet.Inventory, error) {
	n.h.mu.Lock()
	defer n.h.mu.Unlock()
	var inv hostnet.Inventory
	for id := range n.h.taps {
		inv.Taps = append(inv.Taps, hostnet.TapInfo{Name: hostnet.TapName(id), Bridge: "bgtest", VMID: id})
	}
	for id := range n.h.leases {
		inv.Leases = append(inv.Leases, hostnet.Lease{VMID: id, IP: netip.MustParseAddr("10.0.0.5")})
	}
	return inv, nil
}

func (n fakeNetwork) Remove(ctx context.Context, o hostnet.Owned) error {
	for _, t := range o.Taps {
		if err := n.Detach(ctx, t.VMID); err != nil {
			return err
		}
	}
	return nil
}

// fixture is a Service on the fake host, with its layout in a temp dir.
type fixture struct {
	t  *testing.T
	h  *host
	b  *fakeBackend
	s  *Service
	l  paths.Layout
	st *store.Store
	dm bool
}

func newFixture(t *testing.T, opts ...func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{t: t, h: newHost(), l: paths.Rooted(t.TempDir())}
	f.b = &fakeBackend{h: f.h, caps: vmm.Capabilities{Channel: vmm.ChannelVsock, PowerOff: true, DiskFormats: []string{vmm.FormatRaw}}}
	for _, o := range opts {
		o(f)
	}
	if err := f.l.Ensure(); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.st, err = store.Open(f.l.Database()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.st.Close() })
	f.s = f.service()
	return f
}

// service builds a Service on the fixture's host and state (a restarted
// daemon calls it again).
func (f *fixture) service() *Service {
	f.t.Helper()
	key, err := agentclient.NewClientKey()
	if err != nil {
		f.t.Fatal(err)
	}
	cfg := config.Default().VM
	cfg.BootTimeout, cfg.StopTimeout = 5, 2
	s, err := New(Deps{
		Layout: f.l, VM: cfg, Bridge: "bgtest", Store: f.st,
		Catalog: fakeCatalog{f.h}, Backends: fakeBackends{f.h, f.b}, Disks: fakeDisks{f.h, f.dm},
		Network: fakeNetwork{f.h}, Agents: f.h.dialer(), ClientKey: key.PublicKey(),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(s.Close)
	return s
}

// create makes a VM from busybox.
func (f *fixture) create(name string, mod ...func(*Spec)) VM {
	f.t.Helper()
	spec := Spec{Image: "busybox", Cmd: []string{"sleep", "1000"}}
	for _, m := range mod {
		m(&spec)
	}
	vm, err := f.s.Create(context.Background(), name, spec)
	if err != nil {
		f.t.Fatal(err)
	}
	return vm
}

func (f *fixture) get(ref string) VM {
	f.t.Helper()
	vm, err := f.s.Get(ref)
	if err != nil {
		f.t.Fatal(err)
	}
	return vm
}

// record reads a VM's runtime record from disk, as a restarted daemon
// would.
func (f *fixture) record(id string) *handlesView {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.l.VM(id), "handles.json"))
	if err != nil {
		return nil
	}
	return &handlesView{raw: string(b)}
}

// handlesView is the saved record, for assertions on what it names.
type handlesView struct{ raw string }

func (v *handlesView) names(section string) bool { return strings.Contains(v.raw, `"`+section+`"`) }

func mustLookup(t testing.TB, pid int) proc.Identity {
	t.Helper()
	id, err := proc.Lookup(pid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// eventually waits for cond, failing the test after a few seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeHostKey gives a VM directory the agent host key a start makes.
func writeHostKey(t *testing.T, dir string) {
	t.Helper()
	if _, err := agentclient.LoadOrCreateKey(filepath.Join(dir, agentHostKeyFile)); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
