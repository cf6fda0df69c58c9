package firecracker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/firecracker"
	"github.com/bangerdev/banger/internal/vmm/firecracker/fctest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fixture is one VM's files for the fake.
type fixture struct {
	spec    vmm.Spec
	records *recorder
	dir     string
}

type recorder struct {
	mu sync.Mutex
	hs []vmm.Handles
}

func (r *recorder) record(h vmm.Handles) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h.Sockets = cloneMap(h.Sockets)
	r.hs = append(r.hs, h)
	return nil
}

func (r *recorder) all() []vmm.Handles {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vmm.Handles(nil), r.hs...)
}

func cloneMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func newFixture(t *testing.T, id string) fixture {
	t.Helper()
	spec := fctest.Spec(t, id)
	rec := &recorder{}
	spec.Record = rec.record
	return fixture{dir: filepath.Dir(spec.RuntimeDir), records: rec, spec: spec}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func backend(fake fctest.Fake, opts ...firecracker.Option) *firecracker.Backend {
	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer = fake.Firecracker, "" // unjailed, whatever the host has in PATH
	return firecracker.New(cfg, opts...)
}

// vmConfig asks the VMM for its whole configuration (GET /vm/config).
func vmConfig(t *testing.T, m vmm.Machine) map[string]any {
	t.Helper()
	var out map[string]any
	call := firecracker.Call{Method: "GET", Path: "/vm/config"}
	must(t, m.(*firecracker.Machine).Client().Do(ctxT(t), call, &out))
	return out
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	defer func() { _ = c.Close() }()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo over vsock: got %q, %v; want %q", buf, err, msg)
	}
}

func TestLifecycle(t *testing.T) {
	fake := fctest.Binaries(t)
	t.Setenv(fctest.EnvGuestDelay, "150ms") // the agent listens a bit after boot
	f := newFixture(t, "lifecycle-1")
	b := backend(fake)
	ctx := ctxT(t)

	m, err := b.Start(ctx, f.spec)
	must(t, err)
	h := m.Handles()
	t.Cleanup(func() { _ = m.Kill(context.Background()); _ = m.Cleanup() })

	// Handles: recorded before the process existed, then with its identity.
	recs := f.records.all()
	if len(recs) != 2 || recs[0].Process.PID != 0 || recs[1].Process != h.Process || !h.Process.Alive() {
		t.Fatalf("records = %+v; want one without and one with the live process %+v", recs, h.Process)
	}
	if h.Backend != "firecracker" || h.Sockets["api"] != filepath.Join(f.spec.RuntimeDir, "fc.sock") || h.Sockets["vsock"] != filepath.Join(f.spec.RuntimeDir, "vsock.sock") {
		t.Fatalf("handles = %+v", h)
	}
	env, err := proc.Environ(h.Process.PID)
	must(t, err)
	if !contains(env, vmm.EnvVMID+"=lifecycle-1") {
		t.Fatalf("VMM environment lacks %s", vmm.EnvVMID)
	}

	// What the VMM was told.
	cfg := vmConfig(t, m)
	boot := cfg["boot-source"].(map[string]any)
	if boot["boot_args"] != "root=/dev/vda rw console=ttyS0 reboot=k panic=1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd -- --banger-boot" ||
		boot["initrd_path"] != f.spec.Kernel.Initrd || boot["kernel_image_path"] != f.spec.Kernel.Vmlinux {
		t.Fatalf("boot-source = %v", boot)
	}
	drives := cfg["drives"].([]any)
	if d := drives[0].(map[string]any); d["drive_id"] != "root" || d["is_root_device"] != true || d["is_read_only"] != false {
		t.Fatalf("first drive must be the root: %v", drives)
	}
	if d := drives[1].(map[string]any); d["drive_id"] != "data" || d["is_read_only"] != true {
		t.Fatalf("second drive: %v", drives)
	}
	if v := cfg["vsock"].(map[string]any); v["guest_cid"] != 3.0 || v["uds_path"] != h.Sockets["vsock"] {
		t.Fatalf("vsock = %v", v)
	}
	if cfg["entropy"] == nil {
		t.Fatal("no entropy device: the guest's getrandom would block at boot (docs/architecture.md, Traps: entropy)")
	}
	if mc := cfg["machine-config"].(map[string]any); mc["vcpu_count"] != 2.0 || mc["mem_size_mib"] != 256.0 {
		t.Fatalf("machine-config = %v", mc)
	}

	// The agent channel, dialled before the guest listens.
	c, err := m.DialAgent(ctx)
	must(t, err)
	echo(t, c, "ping over hybrid vsock")

	// Pause, snapshot, resume.
	p := m.(vmm.Pauser)
	must(t, p.Pause(ctx))
	if st, err := m.Status(ctx); err != nil || st != vmm.StatusPaused {
		t.Fatalf("status after pause = %v, %v", st, err)
	}
	snap := vmm.SnapshotSpec{StatePath: filepath.Join(f.dir, "vm.state"), MemPath: filepath.Join(f.dir, "vm.mem")}
	must(t, m.(vmm.Snapshotter).CreateSnapshot(ctx, snap))
	if fi, err := os.Stat(snap.MemPath); err != nil || fi.Size() != 256<<20 {
		t.Fatalf("memory file: %v, %v", fi, err)
	}
	// Diff without dirty page tracking: refused, with Firecracker's reason.
	err = m.(vmm.Snapshotter).CreateSnapshot(ctx, vmm.SnapshotSpec{Type: vmm.SnapshotDiff, StatePath: snap.StatePath + ".d", MemPath: snap.MemPath + ".d"})
	if err == nil || !strings.Contains(err.Error(), "PUT /snapshot/create") || !strings.Contains(err.Error(), "dirty page tracking disabled") {
		t.Fatalf("diff snapshot without tracking: %v", err)
	}
	must(t, p.Resume(ctx))

	// A second start of the same instance is refused by the contract.
	err = m.(*firecracker.Machine).Client().Do(ctx, firecracker.Call{Method: "PUT", Path: "/actions", Body: firecracker.InstanceActionInfo{ActionType: "InstanceStart"}}, nil)
	var ae *firecracker.APIError
	if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Fault, "after starting") {
		t.Fatalf("second InstanceStart: %v", err)
	}

	// Clean shutdown through Ctrl-Alt-Del.
	if err := m.Cleanup(); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Cleanup of a running VM = %v, want ErrConflict", err)
	}
	must(t, m.Shutdown(ctx))
	exit, err := m.Wait(ctx)
	if err != nil || exit.Code != 0 {
		t.Fatalf("exit = %+v, %v; want 0 after the guest rebooted", exit, err)
	}
	if st, _ := m.Status(ctx); st != vmm.StatusStopped {
		t.Fatalf("status after shutdown = %v", st)
	}
	must(t, m.Cleanup())
	must(t, m.Cleanup()) // idempotent
	for _, s := range h.Sockets {
		if _, err := os.Lstat(s); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind", s)
		}
	}
	console, _ := os.ReadFile(f.spec.ConsoleLog)
	if !strings.Contains(string(console), "Linux version") || !strings.Contains(string(console), "reboot: Restarting system") {
		t.Fatalf("console log = %q", console)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A request Firecracker rejects ends Start with the endpoint and the
// fault message, and leaves nothing behind.
func TestStartRejectedRequest(t *testing.T) {
	fake := fctest.Binaries(t)
	f := newFixture(t, "rejected-1")
	// Not an ELF: Firecracker refuses to load it at InstanceStart.
	must(t, os.WriteFile(f.spec.Kernel.Vmlinux, []byte("not a kernel"), 0o644))
	_, err := backend(fake).Start(ctxT(t), f.spec)
	if err == nil || !strings.Contains(err.Error(), "PUT /actions") || !strings.Contains(err.Error(), "failed to load ELF kernel image") {
		t.Fatalf("Start = %v; want the endpoint and Firecracker's fault message", err)
	}
	var ae *firecracker.APIError
	if !errors.As(err, &ae) || ae.Status != 400 {
		t.Fatalf("error %v does not carry the APIError", err)
	}
	recs := f.records.all()
	last := recs[len(recs)-1]
	if last.Process.PID == 0 || last.Process.Alive() {
		t.Fatalf("the VMM process %+v must have been started and be gone", last.Process)
	}
	for _, s := range last.Sockets {
		if _, err := os.Lstat(s); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket %s left behind", s)
		}
	}
}

// A VMM that dies during startup is reported with its log.
func TestStartVMMExits(t *testing.T) {
	fake := fctest.Binaries(t)
	t.Setenv(fctest.EnvSpec, "") // the fake refuses to run without its spec
	f := newFixture(t, "dies-1")
	_, err := backend(fake).Start(ctxT(t), f.spec)
	if err == nil || !strings.Contains(err.Error(), "exited during startup (exit status 1)") || !strings.Contains(err.Error(), "FCTEST_SPEC is not set") {
		t.Fatalf("Start = %v", err)
	}
}

func TestStartMissingBinary(t *testing.T) {
	cfg := config.Default().Firecracker
	cfg.Binary, cfg.Jailer = "/nonexistent/firecracker", ""
	f := newFixture(t, "nobin-1")
	_, err := firecracker.New(cfg).Start(ctxT(t), f.spec)
	if !errors.Is(err, errdefs.ErrUnavailable) || len(f.records.all()) != 0 {
		t.Fatalf("Start = %v (records %v); want ErrUnavailable before anything is recorded", err, f.records.all())
	}
}

// After a daemon restart, a new backend adopts the running VMM from its
// recorded handles, and can drive it to the end.
func TestAttachAfterRestart(t *testing.T) {
	fake := fctest.Binaries(t)
	f := newFixture(t, "adopt-1")
	ctx := ctxT(t)
	first, err := backend(fake).Start(ctx, f.spec)
	must(t, err)
	t.Cleanup(func() { _ = first.Kill(context.Background()) })
	h := first.Handles()

	// "Restart": a fresh backend, knowing only the handles.
	m, err := backend(fake).Attach(ctx, h)
	must(t, err)
	if st, err := m.Status(ctx); err != nil || st != vmm.StatusRunning {
		t.Fatalf("adopted status = %v, %v", st, err)
	}
	c, err := m.DialAgent(ctx)
	must(t, err)
	echo(t, c, "adopted")
	if err := m.Cleanup(); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("Cleanup while running = %v", err)
	}
	must(t, m.Kill(ctx))
	exit, err := m.Wait(ctx)
	if err != nil || exit.Code != -1 {
		t.Fatalf("adopted exit = %+v, %v; want code -1 (not our child)", exit, err)
	}
	// The original owner reaps its child and sees the signal.
	if exit, err := first.Wait(ctx); err != nil || exit.Signal != "killed" {
		t.Fatalf("owner's exit = %+v, %v", exit, err)
	}
	must(t, m.Cleanup())
	if _, err := os.Lstat(h.Sockets["api"]); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("api socket left behind")
	}

	// A dead process, or one whose pid was reused, is not adopted.
	if _, err := backend(fake).Attach(ctx, h); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Attach to a gone VMM = %v, want ErrNotFound", err)
	}
	self, err := proc.Lookup(os.Getpid())
	must(t, err)
	stale := h
	stale.Process = self
	stale.Process.StartTime++
	if _, err := backend(fake).Attach(ctx, stale); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Attach to a reused pid = %v, want ErrNotFound", err)
	}
}
