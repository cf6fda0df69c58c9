package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events/eventstest"
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

	taps     map[string]bool   // vm id -> tap exists
	nsTaps   map[string]string // vm id -> the namespace its tap is in
	leases   map[string]bool   // vm id -> lease held
	dm       map[string]bool   // vm id -> dm devices up
	cgroups  map[string]bool   // vm id -> the VMM's cgroup exists
	machines map[string]*fakeMachine
	// noVirtioFS makes the catalog's kernel one without virtio-fs.
	noVirtioFS bool
}

func newHost() *host {
	return &host{fail: map[string]error{}, taps: map[string]bool{}, nsTaps: map[string]string{}, leases: map[string]bool{}, dm: map[string]bool{}, cgroups: map[string]bool{}, machines: map[string]*fakeMachine{}}
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
		Digest: "sha256:img", AgentSHA256: "agent", HeldBoot: true, Config: imagepull.Config{Cmd: []string{"sh"}, ExposedPorts: []string{"80/tcp", "53/udp"}}}, nil
}

func (c fakeCatalog) Kernel(string) (Kernel, error) {
	if err := c.h.do("catalog.kernel"); err != nil {
		return Kernel{}, err
	}
	return Kernel{Name: "k1", Vmlinux: "/kernels/k1/vmlinux", SHA256: "k1sum", VirtioFS: !c.h.noVirtioFS}, nil
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

// fixture is a Service on the fake host, with its layout in a temp dir.
type fixture struct {
	t  *testing.T
	h  *host
	b  *fakeBackend
	v  *fakeVolumes
	s  *Service
	l  paths.Layout
	st *store.Store
	dm bool
	// out, when set, is the service's Outputs; snaps the snapshot store
	// (withSnapshots).
	out   *fakeOutputs
	snaps *fakeSnapshots
	// ckpts is the checkpoint store (withCheckpoints).
	ckpts *fakeSnapshots
	// nets are the user-defined networks (withNetworks).
	nets []string
	// events is what every service of the fixture published.
	events *eventstest.Recorder
	// nsDetached and nsSwept are what the fake namespaces were asked.
	nsDetached []hostnet.NetnsHandles
	nsSwept    []string
}

func newFixture(t *testing.T, opts ...func(*fixture)) *fixture {
	t.Helper()
	f := &fixture{t: t, h: newHost(), l: paths.Rooted(t.TempDir()), events: &eventstest.Recorder{}}
	f.b = &fakeBackend{h: f.h, caps: vmm.Capabilities{Channel: vmm.ChannelVsock, PowerOff: true, DiskFormats: []string{vmm.FormatRaw}}}
	f.v = newFakeVolumes(f.h)
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
	cfg.BootTimeout, cfg.StopTimeout, cfg.AgentTimeout = 5, 2, 1
	s, err := New(Deps{
		Layout: f.l, VM: cfg, Bridge: "bgtest", Store: f.st,
		Catalog: fakeCatalog{f.h}, Backends: fakeBackends{f.h, f.b}, Disks: fakeDisks{f.h, f.dm},
		Network: fakeNetwork{f.h}, Namespaces: fakeNamespaces{f.h, &f.nsDetached, &f.nsSwept}, Agents: f.h.dialer(), ClientKey: key.PublicKey(),
		Volumes: f.v, Shares: f.v, Events: f.events,
	})
	if err == nil && f.out != nil {
		s.Outputs = f.out
	}
	if err == nil && f.nets != nil {
		s.Networks = fakeNetworks{f.h, f.nets}
	}
	if err == nil && f.ckpts != nil {
		s.Checkpoints = f.ckpts
	}
	if err == nil && f.snaps != nil {
		s.Snapshots, s.SnapshotBoot = f.snaps, true
	}
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

// waitNotLive waits for the exit watcher to drop a stopped VM from the
// live set: it does so on its own goroutine, after Stop has returned and
// the record says exited, so a test acting on "no longer live" (gc of its
// objects, a network connect) waits for it as a user would retry.
func (f *fixture) waitNotLive(t *testing.T, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.s.live.any(id) != nil; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("vm %s is still live 10s after it stopped", id)
		}
	}
}
