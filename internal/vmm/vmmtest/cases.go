package vmmtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// lifecycle: start → running → the agent answers → pause/resume (a Pauser)
// → shutdown ends the VMM cleanly → cleanup leaves nothing, twice.
func (s *suite) lifecycle(t *testing.T) {
	ctx := s.ctx(t)
	v := s.newVM(t)
	m := s.start(ctx, t, v)
	wantStatus(ctx, t, m, vmm.StatusRunning)
	if s.h.Guest == nil {
		t.Log("no Guest hook: stopping with Kill instead of a guest power-off")
		if err := m.Kill(ctx); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		s.checkGone(t, v, m)
		return
	}
	s.talk(ctx, t, m)
	if p, ok := m.(vmm.Pauser); ok {
		if err := p.Pause(ctx); err != nil {
			t.Fatalf("Pause: %v", err)
		}
		wantStatus(ctx, t, m, vmm.StatusPaused)
		if err := p.Resume(ctx); err != nil {
			t.Fatalf("Resume: %v", err)
		}
		wantStatus(ctx, t, m, vmm.StatusRunning)
		s.talk(ctx, t, m) // a second connection: the guest reopens its end
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	exit, err := m.Wait(ctx)
	if err != nil || exit.Code != 0 {
		t.Fatalf("Wait after Shutdown = %+v, %v; want a clean exit (status 0)", exit, err)
	}
	wantStatus(ctx, t, m, vmm.StatusStopped)
	s.checkGone(t, v, m)
}

// kill: Kill ends the VMM at once (the guest may still be booting).
func (s *suite) kill(t *testing.T) {
	ctx := s.ctx(t)
	v := s.newVM(t)
	m := s.start(ctx, t, v)
	if err := m.Kill(ctx); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if _, err := m.Wait(ctx); err != nil {
		t.Fatalf("Wait after Kill: %v", err)
	}
	if err := m.Kill(ctx); err != nil {
		t.Fatalf("second Kill: %v", err)
	}
	wantStatus(ctx, t, m, vmm.StatusStopped)
	s.checkGone(t, v, m)
}

// attachShutdown: a new backend instance (a restarted daemon) adopts the
// machine from its handles, talks to the guest and shuts it down.
func (s *suite) attachShutdown(t *testing.T) {
	s.needGuest(t)
	ctx := s.ctx(t)
	v := s.newVM(t)
	m := s.start(ctx, t, v)
	adopted := s.attach(ctx, t, m)
	s.talk(ctx, t, adopted)
	if err := adopted.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown through the adopted machine: %v", err)
	}
	if _, err := adopted.Wait(ctx); err != nil {
		t.Fatalf("Wait on the adopted machine: %v", err)
	}
	if exit, err := m.Wait(ctx); err != nil || exit.Code != 0 {
		t.Fatalf("original machine's Wait = %+v, %v; want a clean exit", exit, err)
	}
	s.checkGone(t, v, adopted)
}

// attachKill: the adopted machine can be killed, and a dead machine cannot
// be adopted.
func (s *suite) attachKill(t *testing.T) {
	ctx := s.ctx(t)
	v := s.newVM(t)
	m := s.start(ctx, t, v)
	adopted := s.attach(ctx, t, m)
	if err := adopted.Kill(ctx); err != nil {
		t.Fatalf("Kill through the adopted machine: %v", err)
	}
	if _, err := m.Wait(ctx); err != nil {
		t.Fatalf("original machine's Wait: %v", err)
	}
	s.checkGone(t, v, adopted)
	if _, err := s.h.NewBackend(t).Attach(ctx, m.Handles()); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Attach to a dead machine = %v; want ErrNotFound", err)
	}
}

// releaseFromHandles: a restarted daemon that cannot (or need not) adopt
// a machine ends it and removes what it made from the recorded handles
// alone; Release is idempotent and accepts handles recorded before the
// process existed.
func (s *suite) releaseFromHandles(t *testing.T) {
	ctx := s.ctx(t)
	v := s.newVM(t)
	m := s.start(ctx, t, v)
	h := m.Handles()
	b := s.h.NewBackend(t)
	for i := range 2 {
		if err := b.Release(ctx, h); err != nil {
			t.Fatalf("Release #%d: %v", i+1, err)
		}
	}
	if _, err := m.Wait(ctx); err != nil {
		t.Fatalf("the started machine's Wait after Release: %v", err)
	}
	s.checkNoLeftovers(t, v, &h)
	early := vmm.Handles{Backend: h.Backend, Sockets: h.Sockets}
	if err := b.Release(ctx, early); err != nil {
		t.Fatalf("Release of handles recorded before the spawn: %v", err)
	}
}

// capabilities: what the backend declares is what its machines do.
func (s *suite) capabilities(t *testing.T) {
	ctx := s.ctx(t)
	v := s.newVM(t)
	caps := v.backend.Capabilities()
	if caps.Channel != vmm.ChannelSerial && caps.Channel != vmm.ChannelVsock {
		t.Errorf("agent channel %q", caps.Channel)
	}
	if !caps.Opens(vmm.FormatRaw) {
		t.Errorf("disk formats %v lack raw", caps.DiskFormats)
	}
	m := s.start(ctx, t, v)
	defer func() {
		_ = m.Kill(ctx)
		s.checkGone(t, v, m)
	}()
	if _, ok := m.(vmm.Pauser); ok != caps.Pause {
		t.Errorf("machine implements Pauser: %v; capabilities say %v", ok, caps.Pause)
	}
	if _, ok := m.(vmm.Snapshotter); ok != caps.Snapshot {
		t.Errorf("machine implements Snapshotter: %v; capabilities say %v", ok, caps.Snapshot)
	}
	if _, ok := v.backend.(vmm.Restorer); ok != caps.Snapshot {
		t.Errorf("backend implements Restorer: %v; capabilities say %v", ok, caps.Snapshot)
	}
	if caps.MemoryFile && !caps.Snapshot {
		t.Error("capabilities say snapshots keep RAM in a memory file, but the backend cannot snapshot")
	}
}

func (s *suite) attach(ctx context.Context, t *testing.T, m vmm.Machine) vmm.Machine {
	t.Helper()
	adopted, err := s.h.NewBackend(t).Attach(ctx, m.Handles())
	if err != nil {
		t.Fatalf("Attach from a new backend: %v", err)
	}
	if adopted.Handles().Process != m.Handles().Process {
		t.Fatalf("adopted process %+v, started %+v", adopted.Handles().Process, m.Handles().Process)
	}
	wantStatus(ctx, t, adopted, vmm.StatusRunning)
	return adopted
}

// missingKernel: a spec whose kernel does not exist fails with an error
// naming the VM and the kernel, and leaves nothing behind.
func (s *suite) missingKernel(t *testing.T) {
	v := s.newVM(t)
	missing := filepath.Join(filepath.Dir(v.spec.RuntimeDir), "no-such-kernel")
	v.spec.Kernel = vmm.Kernel{Vmlinux: missing, BzImage: missing}
	s.wantStartFailure(t, v, "no-such-kernel")
}

// unbootableKernel: a kernel file that is not a kernel fails Start (the VMM
// rejects it) with an error naming the VM, and leaves nothing behind.
func (s *suite) unbootableKernel(t *testing.T) {
	v := s.newVM(t)
	junk := filepath.Join(filepath.Dir(v.spec.RuntimeDir), "junk-kernel")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a kernel\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	v.spec.Kernel = vmm.Kernel{Vmlinux: junk, BzImage: junk}
	s.wantStartFailure(t, v, "")
}

func (s *suite) wantStartFailure(t *testing.T, v *vm, mention string) {
	t.Helper()
	ctx := s.ctx(t)
	m, err := v.backend.Start(ctx, v.spec)
	if err == nil {
		_ = m.Kill(ctx)
		_ = m.Cleanup()
		t.Fatal("Start succeeded with a broken spec")
	}
	t.Logf("Start error: %v", err)
	if !strings.Contains(err.Error(), v.id) || !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q should name the VM %s and %q", err, v.id, mention)
	}
	s.checkNoLeftovers(t, v, nil)
}

// checkRecords asserts Record was called first before any VMM process
// existed and before its sockets did, and last with the live identity the
// machine reports.
func checkRecords(t *testing.T, v *vm, m vmm.Machine) {
	t.Helper()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.records) < 2 {
		t.Fatalf("Record called %d times; want before the process exists and after", len(v.records))
	}
	first, last := v.records[0], v.records[len(v.records)-1]
	if first.h.Process.PID != 0 || len(first.procs) != 0 {
		t.Errorf("first Record came after a VMM process existed: handles %+v, processes %v", first.h.Process, first.procs)
	}
	if len(first.existing) != 0 {
		t.Errorf("first Record came after its sockets existed: %v", first.existing)
	}
	if first.h.Backend != v.backend.Name() || len(first.h.Sockets) == 0 {
		t.Errorf("first Record %+v: want backend %q and the sockets to be created", first.h, v.backend.Name())
	}
	if !last.h.Process.Alive() || last.h.Process != m.Handles().Process {
		t.Errorf("last Record %+v is not the live process %+v", last.h.Process, m.Handles().Process)
	}
	if pids, _ := proc.FindByEnv(vmm.EnvVMID, v.id); len(pids) != 1 || pids[0] != m.Handles().Process.PID {
		t.Errorf("processes with %s=%s: %v; want exactly the VMM %d", vmm.EnvVMID, v.id, pids, m.Handles().Process.PID)
	}
}

// checkGone runs Cleanup (twice: it is idempotent) on a machine whose VMM
// has exited and asserts nothing is left.
func (s *suite) checkGone(t *testing.T, v *vm, m vmm.Machine) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.Wait(ctx); err != nil {
		t.Fatalf("Wait before Cleanup: %v", err)
	}
	for i := range 2 {
		if err := m.Cleanup(); err != nil {
			t.Fatalf("Cleanup #%d: %v", i+1, err)
		}
	}
	h := m.Handles()
	s.checkNoLeftovers(t, v, &h)
}

func (s *suite) checkNoLeftovers(t *testing.T, v *vm, h *vmm.Handles) {
	t.Helper()
	if pids, _ := proc.FindByEnv(vmm.EnvVMID, v.id); len(pids) != 0 {
		t.Errorf("processes with %s=%s left: %v", vmm.EnvVMID, v.id, pids)
	}
	entries, err := os.ReadDir(v.spec.RuntimeDir)
	if err != nil {
		t.Errorf("runtime dir: %v (it is the daemon's and must stay)", err)
	}
	for _, e := range entries {
		t.Errorf("left in the runtime dir: %s", e.Name())
	}
	if h == nil {
		return
	}
	if h.Process.Alive() {
		t.Errorf("VMM process %+v still alive", h.Process)
	}
	for role, p := range h.Sockets {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s socket %s left", role, p)
		}
	}
	if s.h.Leaks != nil {
		s.h.Leaks(t, *h)
	}
}
