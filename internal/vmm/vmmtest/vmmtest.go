// Package vmmtest is the conformance suite every vmm.Backend passes, in the
// manner of containerd's snapshotter test suite: a backend's test supplies
// a Harness (how to make the backend and a bootable Spec, and what its
// guest can do) and calls Run, which drives the lifecycle the daemon relies
// on and asserts, after each case, that nothing is left on the host.
//
// Cases that need a live guest (the agent stream answering, a clean
// power-off) run only when the harness has a Guest hook. Today the QEMU
// test's guest is a busybox initramfs that echoes the agent port; once the
// guest agent exists, the hook performs the SSH handshake and an exec.
package vmmtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
)

// Harness adapts one backend to the suite.
type Harness struct {
	// NewBackend returns a new backend instance. The suite calls it again
	// to play a restarted daemon that adopts running machines.
	NewBackend func(t *testing.T) vmm.Backend
	// Spec returns a bootable spec: kernel, initrd, drives, CPUs, memory.
	// The suite sets ID, RuntimeDir, ConsoleLog and Record.
	Spec func(t *testing.T) vmm.Spec
	// Guest, when set, proves the guest answers on a stream DialAgent
	// returned (the suite closes it afterwards), and declares that the
	// guest powers off when Shutdown asks. Without it, the cases that need
	// a live guest are skipped.
	Guest func(t *testing.T, conn net.Conn)
	// Leaks, when set, checks backend-specific host objects after
	// Cleanup (a jail dir, a cgroup). The suite itself checks the runtime
	// dir, the recorded sockets and processes carrying the VM id.
	Leaks func(t *testing.T, h vmm.Handles)
	// Timeout bounds each case (default 2 minutes: guests under TCG on a
	// loaded host).
	Timeout time.Duration
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 2 * time.Minute
	}
	s := &suite{h: h}
	t.Run("Lifecycle", s.lifecycle)
	t.Run("Kill", s.kill)
	t.Run("AttachAfterRestart", s.attachShutdown)
	t.Run("AttachThenKill", s.attachKill)
	t.Run("ReleaseFromHandles", s.releaseFromHandles)
	t.Run("Capabilities", s.capabilities)
	t.Run("MissingKernel", s.missingKernel)
	t.Run("UnbootableKernel", s.unbootableKernel)
}

type suite struct{ h Harness }

// vm is one machine under test with what the suite observed.
type vm struct {
	id      string
	spec    vmm.Spec
	backend vmm.Backend
	mu      sync.Mutex
	records []recordCall
}

// recordCall is one call of spec.Record and the VMM processes carrying the
// VM id at that moment.
type recordCall struct {
	h     vmm.Handles
	procs []int
	// existing lists recorded sockets that already existed.
	existing []string
}

// newVM prepares a spec with a fresh id and runtime dir, and a cleanup that
// kills any process left with the VM id, so a failed case does not leak.
func (s *suite) newVM(t *testing.T) *vm {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	v := &vm{id: "vmt" + hex.EncodeToString(b[:]), backend: s.h.NewBackend(t)}
	// Short paths: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "bgvm-") //nolint:usetesting // t.TempDir paths can exceed sun_path
	if err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		killByID(t, v.id)
		if t.Failed() {
			logTail(t, "console", v.spec.ConsoleLog)
			for _, name := range listDir(v.spec.RuntimeDir) {
				logTail(t, name, filepath.Join(v.spec.RuntimeDir, name))
			}
		}
		_ = os.RemoveAll(dir)
	})
	v.spec = s.h.Spec(t)
	v.spec.ID = v.id
	v.spec.RuntimeDir = run
	v.spec.ConsoleLog = filepath.Join(dir, "console.log")
	v.spec.Record = func(h vmm.Handles) error {
		pids, _ := proc.FindByEnv(vmm.EnvVMID, v.id)
		var existing []string
		for _, p := range h.Sockets {
			if _, err := os.Stat(p); err == nil {
				existing = append(existing, p)
			}
		}
		v.mu.Lock()
		v.records = append(v.records, recordCall{h: h, procs: pids, existing: existing})
		v.mu.Unlock()
		return nil
	}
	return v
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.h.Timeout)
	t.Cleanup(cancel)
	return ctx
}

func (s *suite) needGuest(t *testing.T) {
	t.Helper()
	if s.h.Guest == nil {
		t.Skip("harness has no Guest hook: this case needs a live guest")
	}
}

// start starts v and checks the recorded handles.
func (s *suite) start(ctx context.Context, t *testing.T, v *vm) vmm.Machine {
	t.Helper()
	m, err := v.backend.Start(ctx, v.spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = m.Kill(context.Background()); _ = m.Cleanup() })
	checkRecords(t, v, m)
	return m
}

// talk dials the agent and lets the harness's guest prove it answers.
func (s *suite) talk(ctx context.Context, t *testing.T, m vmm.Machine) {
	t.Helper()
	conn, err := m.DialAgent(ctx)
	if err != nil {
		t.Fatalf("DialAgent: %v", err)
	}
	defer func() { _ = conn.Close() }()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	s.h.Guest(t, conn)
}

func wantStatus(ctx context.Context, t *testing.T, m vmm.Machine, want vmm.Status) {
	t.Helper()
	got, err := m.Status(ctx)
	if err != nil || got != want {
		t.Fatalf("Status = %q, %v; want %q", got, err, want)
	}
}

func killByID(t *testing.T, id string) {
	pids, _ := proc.FindByEnv(vmm.EnvVMID, id)
	for _, pid := range pids {
		if pi, err := proc.Lookup(pid); err == nil {
			t.Errorf("process %d with %s=%s still running at the end of the test; killing it", pid, vmm.EnvVMID, id)
			_ = pi.Kill(5 * time.Second)
		}
	}
}

// logTail logs the last lines of a file, to explain a failure.
func logTail(t *testing.T, what, path string) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	t.Logf("%s (%s), last lines:\n%s", what, path, strings.Join(lines, "\n"))
}

func listDir(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names
}
