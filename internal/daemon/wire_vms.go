package daemon

import (
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/vmstats"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
)

// The VM service's domain values and the API's wire values are separate
// types, so either can change without the other; these convert.

func vmToAPI(vm vms.VM) api.VM {
	return api.VM{
		ID: vm.ID, Name: vm.Name, State: api.VMState(vm.State), Spec: specToAPI(vm.Spec), ImageID: vm.ImageID,
		Runtime:  runtimeToAPI(vm.Runtime),
		ExitCode: vm.ExitCode, ExitSignal: vm.ExitSignal, OOMKilled: vm.OOMKilled, ExitReason: vm.ExitReason,
		Error: vm.Error, ErrorPhase: vm.ErrorPhase, ConsoleTail: vm.ConsoleTail,
		Created: vm.Created, Started: vm.Started, Stopped: vm.Stopped,
		RestartCount: vm.Restarts.Count, Restarted: vm.Restarts.Last,
		Boot: api.VMBoot(vm.Boot), Forked: (*api.Forked)(vm.Forked),
	}
}

func vmsToAPI(list []vms.VM) []api.VM {
	out := make([]api.VM, 0, len(list))
	for _, vm := range list {
		out = append(out, vmToAPI(vm))
	}
	return out
}

// runtimeToAPI is the runtime summary on the wire.
func runtimeToAPI(r vms.Summary) api.VMRuntime {
	out := api.VMRuntime{
		VMM: r.VMM, Accel: r.Accel, PID: r.PID, RuntimeDir: r.RuntimeDir, DiskPath: r.DiskPath, DiskStrategy: r.DiskStrategy,
		Tap: r.Tap, IP: r.IP, MAC: r.MAC, Confinement: r.Confinement,
	}
	for _, p := range r.Ports {
		out.Ports = append(out.Ports, api.PortMapping(p))
	}
	return out
}

func specToAPI(s vms.Spec) api.VMSpec {
	out := api.VMSpec{
		Image: s.Image, Kernel: s.Kernel, CPUs: s.CPUs, MemoryMiB: s.MemoryMiB, DiskBytes: s.DiskBytes,
		Cmd: s.Cmd, Entrypoint: s.Entrypoint, Env: s.Env, WorkingDir: s.WorkingDir, User: s.User, Hostname: s.Hostname,
		VMM: s.VMM, Network: s.Network, NetworkAliases: s.NetworkAliases, Init: s.Init, Cold: s.Cold, Tmpfs: s.Tmpfs, Detach: s.Detach, TTY: s.TTY,
		Interactive: s.Interactive, AutoRemove: s.AutoRemove, Labels: s.Labels, From: s.From,
		Stdio: api.Stdio(s.Stdio), DNS: api.DNSConfig(s.DNS), PublishAll: s.PublishAll,
	}
	if !s.Restart.IsNone() {
		out.Restart = api.RestartPolicy{Name: string(s.Restart.Mode), MaxRetries: s.Restart.MaxRetries}
	}
	for _, p := range s.Ports {
		out.Ports = append(out.Ports, api.PortMapping(p))
	}
	for _, m := range s.Mounts {
		out.Mounts = append(out.Mounts, api.Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, SizeBytes: m.SizeBytes})
	}
	return out
}

func specFromAPI(s api.VMSpec) vms.Spec {
	out := vms.Spec{
		Image: s.Image, Kernel: s.Kernel, CPUs: s.CPUs, MemoryMiB: s.MemoryMiB, DiskBytes: s.DiskBytes,
		Cmd: s.Cmd, Entrypoint: s.Entrypoint, Env: s.Env, WorkingDir: s.WorkingDir, User: s.User, Hostname: s.Hostname,
		VMM: s.VMM, Network: s.Network, NetworkAliases: s.NetworkAliases, Init: s.Init, Cold: s.Cold, Tmpfs: s.Tmpfs, Detach: s.Detach, TTY: s.TTY,
		Interactive: s.Interactive, AutoRemove: s.AutoRemove, Labels: s.Labels, From: s.From,
		Restart: restartFromAPI(s.Restart), Stdio: vmlogs.Stdio(s.Stdio), DNS: vms.DNS(s.DNS), PublishAll: s.PublishAll,
	}
	for _, p := range s.Ports {
		out.Ports = append(out.Ports, hostnet.Port(p))
	}
	for _, m := range s.Mounts {
		out.Mounts = append(out.Mounts, volumes.Mount{Type: volumes.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, SizeBytes: m.SizeBytes})
	}
	return out
}

// restartFromAPI is a wire restart policy as the VM service takes it
// (the service validates it).
func restartFromAPI(p api.RestartPolicy) restart.Policy {
	return restart.Policy{Mode: restart.Mode(p.Name), MaxRetries: p.MaxRetries}
}

func gcToAPI(r vms.GCReport) api.GCReport {
	out := api.GCReport{DryRun: r.DryRun, Objects: hostObjectsToAPI(r.Objects)}
	return out
}

func hostObjectsToAPI(objs []vms.HostObject) []api.HostObject {
	out := make([]api.HostObject, 0, len(objs))
	for _, o := range objs {
		out = append(out, api.HostObject(o))
	}
	return out
}

func statsToAPI(list []vmstats.Stats) []api.VMStats {
	out := make([]api.VMStats, 0, len(list))
	for _, s := range list {
		out = append(out, api.VMStats{
			ID: s.ID, Name: s.Name, CPUPercent: s.CPUPercent, VMMRSSBytes: s.RSSBytes, PIDs: s.Tasks,
			GuestMemoryUsedBytes: s.GuestMemUsed, GuestMemoryTotalBytes: s.GuestMemTotal,
			BlockReadBytes: s.BlockRead, BlockWriteBytes: s.BlockWrite,
			NetRxBytes: s.NetRx, NetTxBytes: s.NetTx, Error: s.Err,
		})
	}
	return out
}
