package qemu_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/guest"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// vmDir returns a short runtime dir and a console log path for one VM.
func vmDir(t *testing.T) (run, console string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "bgq-") //nolint:usetesting // t.TempDir can exceed sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	run = filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	return run, filepath.Join(dir, "console.log")
}

func echoSpec(t *testing.T, id string) vmm.Spec {
	h := echoHarness(t)
	s := h.Spec(t)
	s.ID = id
	s.RuntimeDir, s.ConsoleLog = vmDir(t)
	return s
}

// The root drive is /dev/vda whatever its place in the spec, extra drives
// follow, read-only reaches the guest, qcow2 works, the machine's kernel
// arguments arrive, and QEMU runs in a session of its own.
func TestDrivesCmdlineSession(t *testing.T) {
	spec := echoSpec(t, "drives")
	img := t.TempDir()
	root := filepath.Join(img, "root.raw")
	if err := os.WriteFile(root, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(img, "extra.qcow2")
	testutil.RequireBinary(t, "qemu-img", "qemu-utils")
	if out, err := exec.CommandContext(t.Context(), "qemu-img", "create", "-q", "-f", "qcow2", extra, "4M").CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v\n%s", err, out)
	}
	spec.Drives = []vmm.Drive{
		{ID: "extra", Path: extra, Format: "qcow2", ReadOnly: true},
		{ID: "root", Path: root, Root: true},
	}
	b := qemu.New(qemu.WithAccel(testAccel()))
	m, err := b.Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Kill(context.Background()); _ = m.Cleanup() }()

	pid := m.Handles().Process.PID
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("qemu %d session = %d, %v; want its own session", pid, sid, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	conn, err := m.DialAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	echoRoundTrip(t, conn) // the guest reports its devices before it echoes
	_ = conn.Close()

	console, _ := os.ReadFile(spec.ConsoleLog)
	want := []string{
		"guest: block vda sectors=2048 ro=0",
		"guest: block vdb sectors=8192 ro=1",
		"console=ttyS0 reboot=t panic=-1",
	}
	if m.Handles().Accel == qemu.AccelTCG {
		want = append(want, "tsc_early_khz=")
	}
	for _, w := range want {
		if !strings.Contains(string(console), w) {
			t.Errorf("console lacks %q:\n%s", w, console)
		}
	}
}

// A guest whose init dies panics; panic=-1 and -no-reboot end QEMU instead
// of leaving a hung or rebooting machine.
func TestGuestPanicEndsQEMU(t *testing.T) {
	ctx, m, console := bootScript(t, "panics", guest.Initramfs{Script: "echo 'guest: init exits'\nexec false\n"})
	exit, err := m.Wait(ctx)
	if err != nil {
		t.Fatalf("QEMU still runs after the guest's init died: %v", err)
	}
	out, _ := os.ReadFile(console)
	if exit.Code != 0 || !strings.Contains(string(out), "Kernel panic") {
		t.Fatalf("exit %+v; console:\n%s", exit, out)
	}
}

// A Record failure after QEMU started ends it and removes what Start made.
func TestStartRecordFailureCleansUp(t *testing.T) {
	spec := echoSpec(t, "recfail")
	calls := 0
	spec.Record = func(h vmm.Handles) error {
		calls++
		if h.Process.PID != 0 {
			return errors.New("disk full")
		}
		return nil
	}
	_, err := qemu.New(qemu.WithAccel(testAccel())).Start(t.Context(), spec)
	if err == nil || !strings.Contains(err.Error(), "vm recfail: record handles: disk full") {
		t.Fatalf("Start = %v; want the record failure with VM id and phase", err)
	}
	if pids, _ := proc.FindByEnv(vmm.EnvVMID, "recfail"); len(pids) != 0 {
		t.Errorf("qemu left running: %v", pids)
	}
	if entries, _ := os.ReadDir(spec.RuntimeDir); len(entries) != 0 {
		t.Errorf("runtime dir not empty: %v", entries)
	}
	if calls != 2 {
		t.Errorf("Record called %d times; want 2", calls)
	}
}

// A power button press the guest cannot see yet (it is still booting, its
// listener comes later) is repeated until the guest powers off.
func TestShutdownRepressesPowerButton(t *testing.T) {
	ctx, m, console := bootScript(t, "repress", guest.Initramfs{
		Modules: guest.BaseModules,
		Script: `sleep 3
exec 4</dev/input/event0
echo "guest: listening for the power button"
dd bs=24 count=1 of=/dev/null 2>/dev/null <&4
echo "guest: power button"
`,
	})
	if err := m.Shutdown(ctx); err != nil {
		out, _ := os.ReadFile(console)
		t.Fatalf("Shutdown: %v; console:\n%s", err, out)
	}
	if out, _ := os.ReadFile(console); !strings.Contains(string(out), "guest: power button") {
		t.Fatalf("QEMU exited, but not through the guest's power button handler:\n%s", out)
	}
}

// bootScript boots a VM named id whose initramfs is ir, from the bzImage
// (the conformance harness boots the PVH vmlinux, so both paths run), with
// drives. It returns a context bounding the test to 2 minutes, the machine
// (killed and cleaned up after the test) and the console log's path.
func bootScript(t *testing.T, id string, ir guest.Initramfs, drives ...vmm.Drive) (context.Context, vmm.Machine, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots a VM")
	}
	testutil.RequireQEMU(t)
	k := guest.DebianKernel(t)
	run, console := vmDir(t)
	spec := vmm.Spec{
		ID: id, RuntimeDir: run, ConsoleLog: console,
		Kernel:  vmm.Kernel{BzImage: k.BzImage, Initrd: guest.Build(t, k, ir)},
		Cmdline: "quiet", CPUs: 1, MemoryMiB: 256,
		Drives: drives,
	}
	m, err := qemu.New(qemu.WithAccel(testAccel())).Start(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Kill(context.Background()); _ = m.Cleanup() })
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx, m, console
}
