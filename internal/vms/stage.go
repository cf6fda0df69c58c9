package vms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// A Stage acquires one kind of host resource for a VM, and releases it
// from the runtime record alone.
//
// Acquire writes the stage's section of rt.Record (and saves it) before it
// creates anything, and hands what later stages need on in rt. Release
// frees what the stage holds only while the VM runs and clears that from
// the record; it is idempotent, works on a record a crashed daemon left
// (rt then holds only the VM and the record), and when its section is
// broken it releases by the VM id alone. A stage whose resource outlives a
// stop (the disk, the lease) also implements Remover.
type Stage interface {
	// Name names the stage in timings and errors.
	Name() string
	Acquire(ctx context.Context, rt *Runtime) error
	Release(ctx context.Context, rt *Runtime) error
}

// A Remover is a stage holding something until the VM is removed.
type Remover interface {
	Remove(ctx context.Context, rt *Runtime) error
}

// Runtime is one VM while the service works on it: the persisted record,
// and what the stages resolve and start for the ones after them.
type Runtime struct {
	VM     VM
	Record *handles.Record

	Image   Image
	Kernel  Kernel
	Backend vmm.Backend
	Probe   vmm.Probe
	Disk    rootfs.Disk
	// Lease is nil with --network none.
	Lease   *hostnet.Lease
	HostKey agentclient.Key
	// Mounts is what the volumes stage prepared for the boot config.
	Mounts mountPlan
	// Boot is what the boot config stage prepared for the VMM stage.
	Boot vmm.Spec
	// Machine is the running VMM, when this daemon has it.
	Machine vmm.Machine
	// Agent is the VM's agent connection.
	Agent *agentLink
	// started is when this start began (the VM's Started, and where
	// attach's backlog of the main process's output begins).
	started time.Time
	// freshDisk says the disk stage made the VM's disk in this start: it
	// is still the image's, the only disk a boot snapshot fits.
	freshDisk bool
	// noRestore makes the boot config stage skip the snapshot lookup:
	// the start's first try restored a guest that never answered.
	noRestore bool
	// marked is set once this run's marker is in the console log: the
	// log's last lines are then this run's.
	marked bool
	// slot is the boot slot the start holds until its agent answers.
	slot *bootSlot
	// Hold is how the VM boots held (hold.go); nil boots as always.
	Hold *bootHold
	// Fork is the checkpoint a fork's first start restores (fork.go).
	Fork *forkPlan
	// warnings are what went wrong without failing the start.
	warnings []string
}

// warn logs what went wrong without failing the start, and keeps it for
// the start's result.
func (rt *Runtime) warn(log *slog.Logger, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	log.Warn(msg, "vm", rt.VM.ID)
	rt.warnings = append(rt.warnings, msg)
}

// agentKey is the host key the agent's first connection pins: the held
// agent's, or the VM's own.
func (rt *Runtime) agentKey() ssh.PublicKey {
	if rt.Hold != nil {
		return rt.Hold.pin()
	}
	if rt.Fork != nil && !rt.Fork.reidentified {
		return rt.Fork.srcKey
	}
	return rt.HostKey.PublicKey()
}

// caps is the backend's capabilities (zero when none was resolved).
func (rt *Runtime) caps() vmm.Capabilities {
	if rt.Backend == nil {
		return vmm.Capabilities{}
	}
	return rt.Backend.Capabilities()
}

// pipeline is the ordered list of stages of a VM. A stage the VM does not
// need is absent: a VM without networking has no network stage.
func (s *Service) pipeline(vm VM) []Stage {
	st := []Stage{
		imageStage{s.Catalog},
		kernelStage{s.Catalog},
		backendStage{s.Backends},
		forkStage{s},
		diskStage{s.Disks, s.Layout, s.VM.DiskStrategy},
	}
	switch {
	case vm.Spec.inNetns():
		st = append(st, netnsStage{s})
	case vm.Spec.Network != NetworkNone:
		st = append(st, networkStage{s})
	}
	st = append(st, runDirStage{s.Layout})
	if len(vm.Spec.Mounts) > 0 {
		st = append(st, volumesStage{s})
	}
	st = append(st,
		bootStage{s},
		bootSlotStage{s.boots},
		vmmStage{s},
		agentStage{s},
	)
	if s.Checkpoints != nil {
		st = append(st, checkpointStage{s})
	}
	if s.mayHold(vm.Spec) {
		st = append(st, saveStage{s}, identityStage{s})
	}
	if vm.Spec.From != "" {
		st = append(st, reidentifyStage{s})
	}
	if s.Outputs != nil {
		st = append(st, outputStage{s})
	}
	return st
}

// A skipper is a stage with nothing to do in some starts (the save of a
// VM that restored, the identity of a VM that did not hold): acquire
// passes it by, untimed. Its Release still runs.
type skipper interface {
	skip(rt *Runtime) bool
}

// stageError names the VM and the stage that failed.
type stageError struct {
	vm, stage string
	err       error
}

func (e *stageError) Error() string { return fmt.Sprintf("vm %s: %s: %v", e.vm, e.stage, e.err) }
func (e *stageError) Unwrap() error { return e.err }

// acquire runs the stages forward, timing each. When one fails it
// releases every stage that ran, the failed one included (it may have
// recorded and made part of its resource), backwards, and returns the
// failure as a *stageError.
func (s *Service) acquire(ctx context.Context, stages []Stage, rt *Runtime, timings map[string]float64) error {
	for i, st := range stages {
		if sk, ok := st.(skipper); ok && sk.skip(rt) {
			continue
		}
		t0 := time.Now()
		err := st.Acquire(ctx, rt)
		timings[st.Name()] = float64(time.Since(t0).Microseconds()) / 1000
		if err != nil {
			if rerr := s.release(context.WithoutCancel(ctx), stages[:i+1], rt); rerr != nil {
				s.Log.Error("release after a failed start", "vm", rt.VM.ID, "error", rerr)
			}
			return &stageError{vm: rt.VM.Name, stage: st.Name(), err: err}
		}
	}
	return nil
}

// release runs Release of stages backwards. Every stage is tried; the
// errors are joined, each naming its stage, and what failed stays in the
// record for the next attempt.
func (s *Service) release(ctx context.Context, stages []Stage, rt *Runtime) error {
	var errs []error
	for i := len(stages) - 1; i >= 0; i-- {
		if err := stages[i].Release(ctx, rt); err != nil {
			errs = append(errs, fmt.Errorf("release %s: %w", stages[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}

// remove runs Remove of the stages that keep something across stops,
// backwards; call it after release.
func (s *Service) remove(ctx context.Context, stages []Stage, rt *Runtime) error {
	var errs []error
	for i := len(stages) - 1; i >= 0; i-- {
		if r, ok := stages[i].(Remover); ok {
			if err := r.Remove(ctx, rt); err != nil {
				errs = append(errs, fmt.Errorf("remove %s: %w", stages[i].Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}
