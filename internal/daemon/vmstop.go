package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/store"
)

// watch waits for a live VM's VMM to exit, however that happens (the main
// process ended, a stop, a kill, a guest panic, a crash), then releases
// its runtime resources and records how it ended. When the daemon closes
// first it returns without touching anything: VMs outlive their daemon,
// and the next one adopts them.
func (d *Daemon) watch(lv *liveVM, vm api.VM) {
	ex, err := lv.machine.Wait(d.ctx)
	if d.ctx.Err() != nil {
		return
	}
	if err != nil {
		d.log.Error("wait for vmm", "vm", vm.ID, "error", err)
	}
	lv.closeAgent()
	ctx := context.Background()
	relErr := d.releaseRuntime(ctx, vm.ID, lv.rec, lv)
	d.live.retire(vm.ID)
	defer d.live.forget(vm.ID)

	lines := consoleLines(d.consoleLog(vm.ID))
	tail := lastN(lines, 20)
	code, haveCode := exitFromConsole(tail)
	state, phase, msg := api.VMStopped, "", ""
	switch i, line := panicLine(lines); {
	case i >= 0:
		state, phase, msg = api.VMError, "guest", "the guest kernel panicked: "+line
		// Show the panic and what follows it, not only the stack's end.
		tail = lines[i:min(len(lines), i+25)]
	case !lv.stopping.Load() && !haveCode && ex.Code != 0:
		state, phase, msg = api.VMError, "vmm", fmt.Sprintf("the VMM exited unexpectedly with code %d", ex.Code)
	}
	if relErr != nil {
		d.log.Error("release runtime resources", "vm", vm.ID, "error", relErr)
		if state == api.VMStopped {
			state, phase, msg = api.VMError, "teardown", relErr.Error()
		}
	}
	updated, err := d.updateVM(vm.ID, func(v *api.VM) {
		v.State, v.ErrorPhase, v.Error = state, phase, msg
		v.Stopped = time.Now().UTC()
		if haveCode {
			v.ExitCode = &code
		}
		if state == api.VMError {
			v.ConsoleTail = tail
		}
		v.Runtime = keepPersistent(v.Runtime)
	})
	close(lv.done)
	defer close(lv.settled) // before forget: a waiter holding lv sees it

	if err != nil {
		d.log.Error("record vm exit", "vm", vm.ID, "error", err)
		return
	}
	exit := "none"
	if updated.ExitCode != nil {
		exit = fmt.Sprint(*updated.ExitCode)
	}
	d.log.Info("vm stopped", "vm", vm.ID, "state", state, "exit_code", exit)
	if updated.Spec.AutoRemove {
		if err := d.removeVM(context.Background(), vm.ID, false); err != nil {
			d.log.Error("auto-remove", "vm", vm.ID, "error", err)
		}
	}
}

// exitFromConsole finds the agent's "main exited status=N" line.
func exitFromConsole(lines []string) (int, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		if code, ok := agentclient.ParseConsoleExit(lines[i]); ok {
			return code, true
		}
	}
	return 0, false
}

// panicLine finds the kernel's last panic line in the console: its index
// (-1 when none) and its text.
func panicLine(lines []string) (int, string) {
	for i := len(lines) - 1; i >= 0; i-- {
		if j := strings.Index(lines[i], "Kernel panic - not syncing"); j >= 0 {
			return i, strings.TrimSpace(lines[i][j:])
		}
	}
	return -1, ""
}

func (d *Daemon) stopVMHandler(r *http.Request) (any, error) {
	timeout := time.Duration(d.cfg.VM.StopTimeout) * time.Second
	if t := r.URL.Query().Get("timeout"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: timeout %q: want seconds", errdefs.ErrInvalid, t)
		}
		timeout = time.Duration(n) * time.Second
	}
	return d.stopVM(r.Context(), r.PathValue("ref"), timeout)
}

func (d *Daemon) killVMHandler(r *http.Request) (any, error) {
	return d.stopVM(r.Context(), r.PathValue("ref"), 0)
}

// stopVM stops a running VM: the agent is asked to stop the main process
// and power off; after timeout the VMM is asked (ACPI power button,
// Ctrl-Alt-Del) and finally killed. A zero timeout kills at once.
func (d *Daemon) stopVM(ctx context.Context, ref string, timeout time.Duration) (api.VM, error) {
	vm, err := d.resolveVM(ref)
	if err != nil {
		return vm, err
	}
	unlock := d.vmLocks.lock(vm.ID)
	defer unlock()
	lv := d.live.get(vm.ID)
	if lv == nil {
		if vm.State == api.VMRunning {
			return vm, fmt.Errorf("vm %s: %w: recorded as running but its VMM is not known to this daemon; restart the daemon to reconcile", vm.Name, errdefs.ErrConflict)
		}
		return vm, nil // already stopped: stop is idempotent, as docker's is
	}
	lv.stopping.Store(true)
	if timeout > 0 {
		d.shutdownGracefully(ctx, lv, timeout)
	}
	select {
	case <-lv.done:
	default:
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := lv.machine.Kill(kctx)
		cancel()
		if err != nil {
			return vm, fmt.Errorf("vm %s: kill: %w", vm.Name, err)
		}
		<-lv.done
	}
	return d.resolveVM(vm.ID)
}

// shutdownGracefully asks the agent, then the VMM, to power the guest off,
// and waits up to timeout for the watcher to see the exit.
func (d *Daemon) shutdownGracefully(ctx context.Context, lv *liveVM, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	wctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if c, err := lv.agentClient(wctx); err == nil {
		if err := c.Shutdown(wctx); err != nil {
			d.log.Debug("agent shutdown request", "vm", lv.id, "error", err)
		}
	}
	// The agent gets half the time; then the VMM presses the power button
	// (ACPI, Ctrl-Alt-Del), which also covers an agent that is not
	// answering.
	select {
	case <-lv.done:
		return
	case <-time.After(timeout / 2):
	}
	if err := lv.machine.Shutdown(wctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		d.log.Debug("vmm shutdown", "vm", lv.id, "error", err)
	}
	select {
	case <-lv.done:
	case <-wctx.Done():
	}
}

func (d *Daemon) waitVMHandler(r *http.Request) (any, error) {
	vm, err := d.resolveVM(r.PathValue("ref"))
	if err != nil {
		return nil, err
	}
	if lv := d.live.any(vm.ID); lv != nil {
		select {
		case <-lv.settled:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	vm, err = d.resolveVM(vm.ID)
	if errors.Is(err, errdefs.ErrNotFound) {
		// Removed on exit (--rm); the record is gone but the wait succeeded.
		return api.VM{ID: vm.ID, State: api.VMStopped}, nil
	}
	return vm, err
}

func (d *Daemon) removeVMHandler(r *http.Request) (any, error) {
	vm, err := d.resolveVM(r.PathValue("ref"))
	if err != nil {
		return nil, err
	}
	return nil, d.removeVM(r.Context(), vm.ID, r.URL.Query().Get("force") == "1")
}

// removeVM releases everything a VM holds and deletes its record. A
// running VM is refused unless force, which kills it first.
func (d *Daemon) removeVM(ctx context.Context, id string, force bool) error {
	vm, err := d.resolveVM(id)
	if err != nil {
		return err
	}
	if lv := d.live.get(vm.ID); lv != nil {
		if !force {
			return fmt.Errorf("vm %s: %w: it is running; stop it first or use `banger rm -f`", vm.Name, errdefs.ErrConflict)
		}
		if _, err := d.stopVM(ctx, vm.ID, 0); err != nil {
			return err
		}
	}
	unlock := d.vmLocks.lock(vm.ID)
	defer unlock()
	if vm, err = d.resolveVM(vm.ID); err != nil {
		return err
	}
	// A VM that stopped normally holds nothing at runtime: its watcher
	// released it. Only leftovers (a failed release) need a recorder here.
	if d.hasRuntime(vm) {
		rec, err := d.recorder(vm)
		if err != nil {
			return fmt.Errorf("vm %s: release: %w", vm.Name, err)
		}
		if err := d.releaseRuntime(ctx, vm.ID, rec, nil); err != nil {
			return fmt.Errorf("vm %s: release: %w (retry `banger rm %s`)", vm.Name, err, vm.Name)
		}
	}
	var errs []error
	if err := d.disks.remove(ctx, vm.ID); err != nil {
		errs = append(errs, err)
	}
	if d.net != nil {
		if err := d.net.Release(ctx, vm.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(d.layout.VM(vm.ID)); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vm %s: remove: %w (the record is kept; retry `banger rm %s`)", vm.Name, err, vm.Name)
	}
	if err := d.store.Update(func(tx *store.Tx) error { return tx.Delete(store.VMs, vm.ID) }); err != nil {
		return err
	}
	d.log.Info("vm removed", "vm", vm.ID, "name", vm.Name)
	return nil
}

// RemoveAllVMs removes every VM, killing running ones (tests and
// uninstalls use it).
func (d *Daemon) RemoveAllVMs(ctx context.Context) error {
	vms, err := store.ListAll[api.VM](d.store, store.VMs)
	if err != nil {
		return err
	}
	var errs []error
	for _, vm := range vms {
		errs = append(errs, d.removeVM(ctx, vm.ID, true))
	}
	return errors.Join(errs...)
}
