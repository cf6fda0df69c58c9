package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Machine is one running QEMU, started by this process or adopted.
type Machine struct {
	id      string
	h       vmm.Handles
	dir     string // runtime dir: the sockets and the stderr log
	console string // console log, for error messages; empty when adopted

	// child is set when this process started QEMU: reap waits for it so
	// it never lingers as a zombie, and records how it ended.
	child  *exec.Cmd
	exited chan struct{}
	exit   vmm.Exit

	qmpMu sync.Mutex // one QMP session at a time
}

var (
	_ vmm.Machine = (*Machine)(nil)
	_ vmm.Pauser  = (*Machine)(nil)

	_ vmm.BlockStatser = (*Machine)(nil)
)

func (m *Machine) reap() {
	err := m.child.Wait()
	m.exit = exitOf(m.child.ProcessState, err)
	close(m.exited)
}

func exitOf(ps *os.ProcessState, err error) vmm.Exit {
	if ps == nil {
		return vmm.Exit{Code: -1, Signal: errString(err)}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return vmm.Exit{Code: -1, Signal: ws.Signal().String()}
	}
	return vmm.Exit{Code: ps.ExitCode()}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Handles implements vmm.Machine.
func (m *Machine) Handles() vmm.Handles { return m.h }

// alive reports whether QEMU still runs.
func (m *Machine) alive() bool {
	if m.child != nil {
		select {
		case <-m.exited:
			return false
		default:
		}
	}
	return m.h.Process.Alive()
}

func (m *Machine) errf(phase string, err error) error {
	return fmt.Errorf("vm %s: %s: %w", m.id, phase, err)
}

// qmp runs one QMP command.
func (m *Machine) qmp(ctx context.Context, cmd string, out any) error {
	return m.qmpArgs(ctx, cmd, nil, out)
}

// qmpArgs runs one QMP command with arguments.
func (m *Machine) qmpArgs(ctx context.Context, cmd string, args, out any) error {
	m.qmpMu.Lock()
	defer m.qmpMu.Unlock()
	return qmpDo(ctx, m.h.Sockets["qmp"], cmd, args, out)
}

// waitReady waits until QEMU answers on QMP, or fails with what QEMU and
// the guest printed when it exits first.
func (m *Machine) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		qctx, qcancel := context.WithTimeout(ctx, time.Second)
		err := m.qmp(qctx, "query-status", nil)
		qcancel()
		if err == nil {
			return nil
		}
		if !m.alive() {
			return m.died()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("qemu did not answer on QMP: %w (last: %w)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		case <-m.exitedChan():
		}
	}
}

func (m *Machine) exitedChan() <-chan struct{} {
	if m.child != nil {
		return m.exited
	}
	return nil
}

// died describes QEMU's early death: its exit, the tail of its stderr and
// of the guest console.
func (m *Machine) died() error {
	msg := "qemu exited"
	if m.child != nil {
		<-m.exited
		msg = fmt.Sprintf("qemu exited (status %d%s)", m.exit.Code, sigSuffix(m.exit.Signal))
	}
	if b, err := os.ReadFile(filepath.Join(m.dir, stderrLog)); err == nil {
		if b = withoutLegend(b); len(strings.TrimSpace(string(b))) > 0 {
			msg += ": " + strings.ReplaceAll(tail(b, 5), "\n", " | ")
		}
	}
	if m.console != "" {
		if b, err := os.ReadFile(m.console); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			msg += "; console: " + strings.ReplaceAll(tail(b, 5), "\n", " | ")
		}
	}
	return errors.New(msg)
}

func sigSuffix(sig string) string {
	if sig == "" {
		return ""
	}
	return ", " + sig
}

// abort ends a QEMU whose start failed and removes what it left.
func (m *Machine) abort() {
	_ = m.h.Process.Signal(syscall.SIGKILL)
	if m.child != nil {
		_ = m.child.Process.Kill() // in case the identity was never looked up
		<-m.exited
	}
	_ = m.Cleanup()
}

// removeCgroup removes the VM's cgroup named in the handles, once QEMU is
// gone (its last threads may take a moment to leave the group).
func (m *Machine) removeCgroup() error {
	c := m.h.Confinement
	if c == nil || c.Cgroup == nil {
		return nil
	}
	if err := cgroups.Remove(c.Cgroup.Paths()); err != nil {
		return m.errf("cleanup", err)
	}
	return nil
}

// DialAgent implements vmm.Machine: it connects to the agent port's unix
// socket, retrying until ctx ends while QEMU creates it. Bytes written
// before the guest opens its end wait in the socket.
func (m *Machine) DialAgent(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "unix", m.h.Sockets["agent"])
		if err == nil {
			return conn, nil
		}
		if !m.alive() {
			return nil, m.errf("dial agent", m.died())
		}
		select {
		case <-ctx.Done():
			return nil, m.errf("dial agent", fmt.Errorf("%w (last: %w)", ctx.Err(), err))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Status implements vmm.Machine.
func (m *Machine) Status(ctx context.Context) (vmm.Status, error) {
	if !m.alive() {
		return vmm.StatusStopped, nil
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := m.qmp(ctx, "query-status", &st); err != nil {
		if !m.alive() {
			return vmm.StatusStopped, nil
		}
		return "", m.errf("status", err)
	}
	return statusOf(st.Status), nil
}

// statusOf maps QEMU's RunState: a guest that can go on is paused; one that
// cannot (shut down, panicked, internal or I/O error) is stopped.
func statusOf(runState string) vmm.Status {
	switch runState {
	case "running":
		return vmm.StatusRunning
	case "paused", "suspended", "prelaunch", "debug", "inmigrate", "postmigrate",
		"finish-migrate", "save-vm", "restore-vm", "colo":
		return vmm.StatusPaused
	default:
		return vmm.StatusStopped
	}
}

// Shutdown implements vmm.Machine: it presses the ACPI power button
// (resuming a paused guest first, which could not react otherwise), again
// every repressInterval, until QEMU exits or ctx ends.
func (m *Machine) Shutdown(ctx context.Context) error {
	if !m.alive() {
		return nil
	}
	st, err := m.Status(ctx)
	if err != nil {
		return m.errf("shutdown", err)
	}
	if st == vmm.StatusPaused {
		if err := m.qmp(ctx, "cont", nil); err != nil {
			return m.errf("shutdown: resume", err)
		}
	}
	for {
		if err := m.qmp(ctx, "system_powerdown", nil); err != nil && m.alive() {
			return m.errf("shutdown", err)
		}
		wctx, cancel := context.WithTimeout(ctx, repressInterval)
		_, err := m.Wait(wctx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return m.errf("shutdown", fmt.Errorf("guest did not power off: %w", ctx.Err()))
		}
	}
}

// repressInterval is how long Shutdown waits before pressing the power
// button again: a press is lost when the guest has no handler for it yet
// (early boot, before its ACPI button driver or the agent's listener), and
// a guest already powering off ignores another.
const repressInterval = 2 * time.Second

// Kill implements vmm.Machine. It asks QEMU to quit first (it exits at once
// and flushes its disk caches, which keeps a qcow2 overlay consistent), and
// sends SIGKILL when that does not end it within a second.
func (m *Machine) Kill(ctx context.Context) error {
	if !m.alive() {
		_, err := m.Wait(ctx)
		return err
	}
	qctx, cancel := context.WithTimeout(ctx, time.Second)
	_ = m.qmp(qctx, "quit", nil)
	_, err := m.Wait(qctx)
	cancel()
	if err == nil {
		return nil
	}
	if err := m.h.Process.Signal(syscall.SIGKILL); err != nil {
		return m.errf("kill", err)
	}
	if _, err := m.Wait(ctx); err != nil {
		return m.errf("kill", err)
	}
	return nil
}

// Wait implements vmm.Machine. An adopted QEMU is not our child, so its
// exit status is unknown (Code -1).
func (m *Machine) Wait(ctx context.Context) (vmm.Exit, error) {
	if m.child != nil {
		select {
		case <-m.exited:
			return m.exit, nil
		case <-ctx.Done():
			return vmm.Exit{}, ctx.Err()
		}
	}
	if err := m.h.Process.Wait(ctx); err != nil {
		return vmm.Exit{}, err
	}
	return vmm.Exit{Code: -1}, nil
}

// Pause implements vmm.Pauser (QMP stop).
func (m *Machine) Pause(ctx context.Context) error {
	if err := m.qmp(ctx, "stop", nil); err != nil {
		return m.errf("pause", err)
	}
	return nil
}

// Resume implements vmm.Pauser (QMP cont).
func (m *Machine) Resume(ctx context.Context) error {
	if err := m.qmp(ctx, "cont", nil); err != nil {
		return m.errf("resume", err)
	}
	return nil
}

// Cleanup implements vmm.Machine: it removes the sockets and the stderr log
// from the runtime dir, the guest RAM file it created (Handles.MemoryFile)
// and the VM's cgroup. The runtime dir and the
// console log are the daemon's.
func (m *Machine) Cleanup() error {
	if m.alive() {
		return m.errf("cleanup", fmt.Errorf("qemu %d still runs: %w", m.h.Process.PID, errdefs.ErrConflict))
	}
	errs := []error{m.removeCgroup()}
	paths := []string{m.h.MemoryFile}
	for _, name := range runtimeFiles {
		paths = append(paths, filepath.Join(m.dir, name))
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return m.errf("cleanup", err)
	}
	return nil
}
