package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// phaseError names the VM and the phase of its start that failed.
type phaseError struct {
	vm, phase string
	err       error
}

func (e *phaseError) Error() string { return fmt.Sprintf("vm %s: %s: %v", e.vm, e.phase, e.err) }
func (e *phaseError) Unwrap() error { return e.err }

// The phases of a start, as --timings reports them.
const (
	phaseImage   = "resolve_image"
	phaseDisk    = "prepare_disk"
	phaseNetwork = "network"
	phaseVMM     = "vmm_start"
	phaseBoot    = "boot_to_agent"
)

func (d *Daemon) startVMHandler(r *http.Request, ew *api.EventWriter) (any, error) {
	return d.startVM(r.Context(), r.PathValue("ref"), ew.Message)
}

// startVM boots a created or stopped VM and returns once its agent
// answers. On failure the VM ends in the error state with the phase and
// the console's last lines, and every runtime resource is released.
func (d *Daemon) startVM(ctx context.Context, ref string, say func(string)) (api.StartResult, error) {
	vm, err := d.resolveVM(ref)
	if err != nil {
		return api.StartResult{}, err
	}
	unlock := d.vmLocks.lock(vm.ID)
	defer unlock()
	if vm, err = d.resolveVM(vm.ID); err != nil {
		return api.StartResult{}, err
	}
	if vm.State == api.VMRunning || d.live.get(vm.ID) != nil {
		return api.StartResult{}, fmt.Errorf("vm %s: %w: it is already running", vm.Name, errdefs.ErrConflict)
	}
	timings := map[string]float64{}
	lv, err := d.boot(ctx, vm, timings, say)
	if err != nil {
		var pe *phaseError
		phase := "start"
		if errors.As(err, &pe) {
			phase = pe.phase
		}
		tail := consoleTail(d.consoleLog(vm.ID), 20)
		if _, uerr := d.updateVM(vm.ID, func(v *api.VM) {
			v.State, v.Error, v.ErrorPhase, v.ConsoleTail = api.VMError, err.Error(), phase, tail
			v.Runtime = keepPersistent(v.Runtime)
		}); uerr != nil {
			d.log.Error("record failed start", "vm", vm.ID, "error", uerr)
		}
		if len(tail) > 0 {
			err = fmt.Errorf("%w\nlast console lines:\n  %s", err, strings.Join(tail, "\n  "))
		}
		return api.StartResult{}, err
	}
	vm, err = d.updateVM(vm.ID, func(v *api.VM) {
		v.State, v.Error, v.ErrorPhase, v.ConsoleTail, v.ExitCode = api.VMRunning, "", "", nil, nil
		v.Started = time.Now().UTC()
	})
	if err != nil {
		return api.StartResult{}, err
	}
	go d.watch(lv, vm) //nolint:gosec // the watcher outlives the request by design: it lives as long as the VM
	d.log.Info("vm started", "vm", vm.ID, "name", vm.Name, "timings_ms", timings)
	return api.StartResult{VM: vm, Timings: timings}, nil
}

// boot runs the phases of a start. Whatever it created is released when
// it fails.
func (d *Daemon) boot(ctx context.Context, vm api.VM, timings map[string]float64, say func(string)) (lv *liveVM, err error) {
	phase := func(name string, fn func() error) error {
		t0 := time.Now()
		err := fn()
		timings[name] = float64(time.Since(t0).Microseconds()) / 1000
		if err != nil {
			return &phaseError{vm: vm.Name, phase: name, err: err}
		}
		return nil
	}

	var (
		img     images.Image
		kern    kernelcat.Kernel
		backend vmm.Backend
		probe   vmm.Probe
	)
	if err := phase(phaseImage, func() error {
		i, err := d.findImage(firstNonEmpty(vm.ImageID, vm.Spec.Image))
		if err != nil {
			return err
		}
		img = *i
		if img.AgentVersion == "" {
			return fmt.Errorf("%w: image %s has no guest agent injected (banger-agent was not found when it was built); install banger-agent next to banger and pull or import the image again", errdefs.ErrConflict, img.Name)
		}
		if kern, err = d.ResolveKernel(vm.Spec.Kernel); err != nil {
			return err
		}
		backend, probe, err = d.backendFor(ctx, vm.Spec.VMM)
		return err
	}); err != nil {
		return nil, err
	}
	say(fmt.Sprintf("using %s with %s", backend.Name(), probeSummary(probe)))

	rtDir := d.layout.VMRuntime(vm.ID)
	rec, rerr := d.recorder(vm)
	if rerr != nil {
		return nil, &phaseError{vm: vm.Name, phase: phaseDisk, err: rerr}
	}
	defer func() {
		if err != nil {
			if rerr := d.releaseRuntime(context.WithoutCancel(ctx), vm.ID, rec, nil); rerr != nil {
				d.log.Error("release after a failed start", "vm", vm.ID, "error", rerr)
			}
		}
	}()

	var dsk rootfs.Disk
	if err := phase(phaseDisk, func() error {
		if err := os.MkdirAll(d.layout.VM(vm.ID), 0o700); err != nil {
			return err
		}
		var err error
		dsk, err = d.disks.prepare(ctx, vm, img, backend.Name(), rec)
		return err
	}); err != nil {
		return nil, err
	}

	var lease *hostnet.Lease
	if err := phase(phaseNetwork, func() error {
		if vm.Spec.Network == api.NetworkNone {
			return nil
		}
		if err := d.ensureNetwork(ctx); err != nil {
			return err
		}
		att, err := d.net.Attach(ctx, vm.ID, vm.Spec.Ports, func(r hostnet.Resources) error {
			return recordNetwork(rec, vm.ID, r)
		})
		if err != nil {
			return err
		}
		if err := recordNetworkCreated(rec, vm.ID, att.Resources); err != nil {
			return err
		}
		lease = &att.Lease
		return nil
	}); err != nil {
		return nil, err
	}

	var machine vmm.Machine
	hostKey, err := agentclient.LoadOrCreateKey(filepath.Join(d.layout.VM(vm.ID), agentHostKeyFile))
	if err != nil {
		return nil, &phaseError{vm: vm.Name, phase: phaseVMM, err: err}
	}
	if err := phase(phaseVMM, func() error {
		seed, err := bootcfg.NewEntropySeed()
		if err != nil {
			return err
		}
		cfg, err := bootConfig(bootInputs{
			VM: vm, Image: img, Lease: lease, Backend: backend.Name(), Seed: seed,
			HostKeyPEM: string(hostKey.PEM), ClientKey: string(ssh.MarshalAuthorizedKey(d.keys.client.PublicKey())),
			StopGrace: d.cfg.VM.StopTimeout * 1000,
		})
		if err != nil {
			return err
		}
		cfgDrive := filepath.Join(d.layout.VM(vm.ID), "config.img")
		if err := bootcfg.Write(cfgDrive, cfg); err != nil {
			return err
		}
		spec := vmm.Spec{
			ID:         vm.ID,
			RuntimeDir: rtDir,
			Kernel:     vmm.Kernel{Vmlinux: kern.Vmlinux, BzImage: kern.BzImage, Initrd: kern.Initrd},
			Cmdline:    kernelCmdline(backend.Name()),
			CPUs:       vm.Spec.CPUs,
			MemoryMiB:  vm.Spec.MemoryMiB,
			Drives: []vmm.Drive{
				{ID: "root", Path: dsk.Path, Format: dsk.Format, Root: true},
				{ID: "config", Path: cfgDrive, ReadOnly: true},
			},
			ConsoleLog: d.consoleLog(vm.ID),
			AgentPort:  vmm.AgentVsockPort,
			Record: func(h vmm.Handles) error {
				return rec.Created(handles.VMM, vm.ID, handles.Runtime, h)
			},
		}
		if lease != nil {
			spec.NICs = []vmm.NIC{{ID: "eth0", Tap: lease.Tap, MAC: lease.MAC, MTU: lease.MTU}}
		}
		if err := rec.Creating(handles.VMM, vm.ID, handles.Runtime, nil); err != nil {
			return err
		}
		machine, err = backend.Start(ctx, spec)
		return err
	}); err != nil {
		return nil, err
	}

	lv = &liveVM{id: vm.ID, machine: machine, backend: backend.Name(), rec: rec, hostKey: hostKey.PublicKey(), signer: d.keys.client, done: make(chan struct{}), settled: make(chan struct{})}
	defer func() {
		if err != nil {
			lv.closeAgent()
			killMachine(machine)
		}
	}()
	if err := phase(phaseBoot, func() error { return d.waitAgent(ctx, lv) }); err != nil {
		return nil, err
	}
	d.live.put(lv)
	return lv, nil
}

// recorder opens a VM's handles.json in its runtime directory (created
// here, and recorded, since the file lives in it), falling back to the
// copy mirrored on the record when the file is missing or corrupt.
func (d *Daemon) recorder(vm api.VM) (*handles.Recorder, error) {
	dir := d.layout.VMRuntime(vm.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("runtime dir: %w", err)
	}
	rec, err := handles.Open(filepath.Join(dir, handles.FileName), vm.ID, handlesOf(vm.Runtime), d.mirrorHandles(vm.ID))
	if errors.Is(err, handles.ErrCorrupt) {
		d.log.Warn("handles.json unusable; using the copy in the database", "vm", vm.ID, "error", err)
	} else if err != nil {
		return nil, err
	}
	if err := rec.Created(handles.RuntimeDir, dir, handles.Runtime, nil); err != nil {
		return nil, err
	}
	return rec, nil
}

// waitAgent waits until the guest agent answers, the VMM exits (the guest
// failed to boot) or the boot timeout passes.
func (d *Daemon) waitAgent(ctx context.Context, lv *liveVM) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(d.cfg.VM.BootTimeout)*time.Second)
	defer cancel()
	exited := make(chan vmm.Exit, 1)
	go func() {
		if ex, err := lv.machine.Wait(ctx); err == nil {
			exited <- ex
			cancel()
		}
	}()
	_, err := lv.agentClient(ctx)
	if err == nil {
		return nil
	}
	select {
	case ex := <-exited:
		return fmt.Errorf("the guest stopped before its agent answered (VMM exit code %d); see the console lines below or `banger logs`", ex.Code)
	default:
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: the guest agent did not answer within %ds (vm.boot_timeout); see `banger logs`", errdefs.ErrUnavailable, d.cfg.VM.BootTimeout)
	}
	return err
}

// killMachine ends a VMM that must not live on (a failed start).
func killMachine(m vmm.Machine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = m.Kill(ctx)
	_ = m.Cleanup()
}

// mirrorHandles returns the callback that copies handles.json onto
// VM.Runtime in the database, so cleanup works without the file.
func (d *Daemon) mirrorHandles(id string) func(handles.File) error {
	return func(f handles.File) error {
		raw, err := json.Marshal(f)
		if err != nil {
			return err
		}
		_, err = d.updateVM(id, func(v *api.VM) {
			v.Runtime = runtimeFrom(f, v.Runtime)
			v.Runtime.Handles = raw
		})
		return err
	}
}

// probeSummary is the one line a start says about its backend.
func probeSummary(p vmm.Probe) string {
	if p.Accel == "tcg" {
		return "tcg, software emulation: KVM is unusable here; `banger doctor` says why"
	}
	return p.Accel
}
