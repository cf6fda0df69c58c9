package vms

import (
	"context"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/vmm"
)

// agentHostKeyFile is the agent's host key in a VM's directory; kept
// across restarts so the pinned key stays the same.
const agentHostKeyFile = "agent_host_ed25519"

// bootStage writes the VM's config drive (its identity, network, main
// process and keys; see package bootcfg) into the VM's directory and
// prepares the VMM's spec. A VM that boots held (hold.go) gets a held
// drive instead, and its own config waits in rt.Hold for the identity
// stage. Its files go with the VM's directory at rm.
type bootStage struct{ s *Service }

func (bootStage) Name() string { return "bootcfg" }

func (st bootStage) Acquire(_ context.Context, rt *Runtime) error {
	dir := st.s.Layout.VM(rt.VM.ID)
	hostKey, err := agentclient.LoadOrCreateKey(filepath.Join(dir, agentHostKeyFile))
	if err != nil {
		return err
	}
	seed, err := bootcfg.NewEntropySeed()
	if err != nil {
		return err
	}
	caps := rt.caps()
	cfg, err := bootConfig(bootInputs{
		VM: rt.VM, Image: rt.Image, Lease: rt.Lease, Caps: caps, Seed: seed,
		HostKeyPEM: string(hostKey.PEM), ClientKey: string(ssh.MarshalAuthorizedKey(st.s.ClientKey)),
		StopGrace: st.s.VM.StopTimeout * 1000, BootTimeout: st.s.VM.BootTimeout, Mounts: rt.Mounts.Guest,
	})
	if err != nil {
		return err
	}
	drive := filepath.Join(dir, "config.img")
	rt.HostKey = hostKey
	rt.Boot = vmm.Spec{
		ID:         rt.VM.ID,
		RuntimeDir: st.s.Layout.VMRuntime(rt.VM.ID),
		Kernel:     vmm.Kernel{Vmlinux: rt.Kernel.Vmlinux, BzImage: rt.Kernel.BzImage, Initrd: rt.Kernel.Initrd},
		Cmdline:    kernelCmdline(caps, false),
		CPUs:       rt.VM.Spec.CPUs,
		MemoryMiB:  rt.VM.Spec.MemoryMiB,
		Drives: []vmm.Drive{
			{ID: "root", Path: rt.Disk.Path, Format: rt.Disk.Format, Root: true},
			{ID: "config", Path: drive, ReadOnly: true},
		},
		ConsoleLog: st.s.consoleLog(rt.VM.ID),
		AgentPort:  vmm.AgentVsockPort,
		Accel:      rt.Probe.Accel,
	}
	if l := rt.Lease; l != nil {
		rt.Boot.NICs = []vmm.NIC{{ID: "eth0", Tap: l.Tap, MAC: l.MAC, MTU: l.MTU, Netns: l.Netns}}
	}
	rt.Mounts.apply(&rt.Boot)
	onDrive := cfg
	if rt.Fork != nil {
		rt.Fork.full = cfg
	}
	if rt.Hold, err = st.s.planHold(rt, cfg); err != nil {
		return err
	}
	if rt.Hold != nil {
		if onDrive, err = rt.Hold.heldConfig(); err != nil {
			return err
		}
	}
	if err := bootcfg.Write(drive, onDrive); err != nil {
		return err
	}
	cpBootWritten.Hit()
	return nil
}

func (bootStage) Release(context.Context, *Runtime) error { return nil }
