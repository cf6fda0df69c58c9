package firecracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Machine is one Firecracker process and its guest.
type Machine struct {
	id        string
	h         vmm.Handles
	rt        runtimeFiles
	api       *Client
	paths     vmPaths
	agentPort uint32
	jail      *JailConfig
	jailRoot  string
	cgroup    string
	// child is set when this daemon started the process (nil if adopted).
	child *child
	// restoreState and restoreMem are the snapshot files as the VMM sees
	// them, for Restore.
	restoreState, restoreMem string
}

// child is a Firecracker process this daemon started and reaps.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	exit exitInfo
}

type exitInfo struct{ vmm.Exit }

func (e exitInfo) describe() string {
	if e.Signal != "" {
		return "killed by " + e.Signal
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (c *child) reap() {
	err := c.cmd.Wait()
	c.exit.Code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		c.exit.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.exit.Signal = ws.Signal().String()
		}
	}
	close(c.done)
}

// Handles returns the machine's recorded resources.
func (m *Machine) Handles() vmm.Handles { return m.h }

// Client returns the API client, for calls the vmm interfaces lack.
func (m *Machine) Client() *Client { return m.api }

func (m *Machine) apply(ctx context.Context, calls []Call) error {
	for _, c := range calls {
		if err := m.api.Do(ctx, c, nil); err != nil {
			return err
		}
	}
	return nil
}

func (m *Machine) alive() bool {
	if m.child != nil {
		select {
		case <-m.child.done:
			return false
		default:
			return true
		}
	}
	return m.h.Process.Alive()
}

// DialAgent opens a stream to the guest agent over hybrid vsock, retrying
// while the guest boots, until ctx ends.
func (m *Machine) DialAgent(ctx context.Context) (net.Conn, error) {
	c, err := DialVsock(ctx, m.rt.Vsock, m.agentPort)
	if err != nil {
		return nil, fmt.Errorf("dial agent of vm %s: %w", m.id, err)
	}
	return c, nil
}

// Status asks Firecracker for the guest's state; a VMM that is gone is
// stopped.
func (m *Machine) Status(ctx context.Context) (vmm.Status, error) {
	if !m.alive() {
		return vmm.StatusStopped, nil
	}
	info, err := m.api.Info(ctx)
	if err != nil {
		if !m.alive() {
			return vmm.StatusStopped, nil
		}
		return "", fmt.Errorf("status of vm %s: %w", m.id, err)
	}
	switch info.State {
	case StateRunning:
		return vmm.StatusRunning, nil
	case StatePaused:
		return vmm.StatusPaused, nil
	}
	return vmm.StatusStopped, nil // "Not started"
}

// Shutdown sends Ctrl-Alt-Del (the guest kernel needs the i8042 driver;
// with reboot=k the guest's reboot ends Firecracker) and waits until ctx
// ends for the process to exit. A paused guest is resumed first, since it
// could not react. It does not kill: see Kill.
func (m *Machine) Shutdown(ctx context.Context) error {
	if !m.alive() {
		return nil
	}
	if st, err := m.Status(ctx); err == nil && st == vmm.StatusPaused {
		if err := m.Resume(ctx); err != nil {
			return fmt.Errorf("shutdown vm %s: %w", m.id, err)
		}
	}
	err := m.api.Do(ctx, Call{http.MethodPut, "/actions", InstanceActionInfo{ActionType: ActionSendCtrlAltDel}}, nil)
	if err != nil && m.alive() {
		return fmt.Errorf("shutdown vm %s: %w", m.id, err)
	}
	if _, err := m.Wait(ctx); err != nil {
		return fmt.Errorf("shutdown vm %s: guest did not power off: %w", m.id, err)
	}
	return nil
}

// Kill ends the Firecracker process now and waits for it to go.
func (m *Machine) Kill(ctx context.Context) error {
	if err := m.h.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill vm %s: %w", m.id, err)
	}
	if _, err := m.Wait(ctx); err != nil {
		return fmt.Errorf("kill vm %s: %w", m.id, err)
	}
	return nil
}

// Wait blocks until the process exits or ctx ends. An adopted process is
// not our child: its exit status is unknown (Code -1).
func (m *Machine) Wait(ctx context.Context) (vmm.Exit, error) {
	if m.child != nil {
		select {
		case <-m.child.done:
			return m.child.exit.Exit, nil
		case <-ctx.Done():
			return vmm.Exit{}, ctx.Err()
		}
	}
	if err := m.h.Process.Wait(ctx); err != nil {
		return vmm.Exit{}, err
	}
	return vmm.Exit{Code: -1}, nil
}

// Cleanup removes the sockets, the metrics file, the jail and its cgroup
// once the process is gone; the log stays for `banger logs` (under the
// jailer it lived in the jail and goes with it). It is idempotent.
func (m *Machine) Cleanup() error {
	if m.alive() {
		return fmt.Errorf("cleanup vm %s: %w: firecracker (pid %d) still runs", m.id, errdefs.ErrConflict, m.h.Process.PID)
	}
	m.api.Close()
	var errs []error
	// The log goes too (in a jail it is a symlink to the jail's file): the
	// daemon keeps the console log, and a start that failed already
	// quoted the log's tail in its error.
	for _, p := range []string{m.rt.API, m.rt.Vsock, m.rt.Metrics, m.rt.Log} {
		errs = append(errs, removeIfExists(p))
	}
	if m.h.JailDir != "" {
		if err := safeJailDir(m.h.JailDir); err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, os.RemoveAll(m.h.JailDir))
		}
	}
	if m.cgroup != "" {
		// The jailer's cgroup is empty once the process is gone.
		if err := os.Remove(m.cgroup); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup vm %s: %w", m.id, err)
	}
	return nil
}

// safeJailDir refuses to remove a recorded jail dir that does not look
// like one (<base>/<exec name>/<id>, absolute, holding root/ or nothing).
func safeJailDir(dir string) error {
	clean := filepath.Clean(dir)
	if !filepath.IsAbs(clean) || clean != dir || filepath.Dir(filepath.Dir(clean)) == "/" {
		return fmt.Errorf("refusing to remove recorded jail dir %q: not <chroot base>/<exec>/<id>", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil //nolint:nilerr // gone already, or RemoveAll will say
	}
	for _, e := range entries {
		if e.Name() != "root" {
			return fmt.Errorf("refusing to remove recorded jail dir %q: it holds %q besides root/", dir, e.Name())
		}
	}
	return nil
}

// Pause pauses the guest's vCPUs (PATCH /vm).
func (m *Machine) Pause(ctx context.Context) error {
	if err := m.api.Do(ctx, Call{http.MethodPatch, "/vm", VM{State: VMPaused}}, nil); err != nil {
		return fmt.Errorf("pause vm %s: %w", m.id, err)
	}
	return nil
}

// Resume resumes a paused guest (PATCH /vm).
func (m *Machine) Resume(ctx context.Context) error {
	if err := m.api.Do(ctx, Call{http.MethodPatch, "/vm", VM{State: VMResumed}}, nil); err != nil {
		return fmt.Errorf("resume vm %s: %w", m.id, err)
	}
	return nil
}

// abort undoes a failed start: kill, reap, clean up.
func (m *Machine) abort() {
	if m.h.Process.PID > 0 || m.child != nil {
		if m.child != nil {
			_ = m.child.cmd.Process.Kill()
			<-m.child.done
		} else {
			_ = m.Kill(context.Background())
		}
	}
	_ = m.Cleanup()
}
