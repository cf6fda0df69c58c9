package dockerapi

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
)

const mib = 1 << 20

// createInput is a create request with what the mapping needs besides.
type createInput struct {
	Config     container.Config
	HostConfig container.HostConfig
	// Networking holds the endpoint's aliases (--network-alias).
	Networking *network.NetworkingConfig
}

// specFromCreate maps a create request onto a VM spec: what a VM does as
// a container does is mapped, what changes nothing in a VM is accepted,
// and what a VM cannot honour is refused naming the option (refusals).
// Warnings say where the VM differs in degree (whole vCPUs).
func specFromCreate(in createInput) (vms.Spec, []string, error) {
	c, hc := in.Config, in.HostConfig
	if err := refusals(c, hc); err != nil {
		return vms.Spec{}, nil, err
	}
	if c.Image == "" {
		return vms.Spec{}, nil, badParam("config is missing the Image field")
	}
	spec := vms.Spec{
		Image: c.Image, Cmd: c.Cmd, Entrypoint: c.Entrypoint, Env: c.Env, WorkingDir: c.WorkingDir,
		User: c.User, Hostname: c.Hostname, Labels: c.Labels, TTY: c.Tty, Interactive: c.OpenStdin,
		AutoRemove: hc.AutoRemove, Tmpfs: tmpfsSpecs(hc.Tmpfs),
		// No client attached from the start (run -d): the VM's output
		// never waits for one.
		Detach: !c.AttachStdin && !c.AttachStdout && !c.AttachStderr,
	}
	// --entrypoint "" resets the image's entrypoint and cmd: what runs is
	// the command given, its first word the entrypoint.
	if len(c.Entrypoint) == 1 && c.Entrypoint[0] == "" {
		if len(c.Cmd) == 0 {
			return vms.Spec{}, nil, badParam("No command specified: --entrypoint \"\" resets the image's entrypoint and cmd; give a command")
		}
		spec.Entrypoint, spec.Cmd = c.Cmd[:1], c.Cmd[1:]
	}
	var warnings []string
	if hc.Memory > 0 {
		spec.MemoryMiB = int((hc.Memory + mib - 1) / mib)
	}
	if hc.NanoCPUs > 0 {
		spec.CPUs = int((hc.NanoCPUs + 1e9 - 1) / 1e9)
		if hc.NanoCPUs%1e9 != 0 {
			warnings = append(warnings, fmt.Sprintf("--cpus %s: a VM has whole vCPUs; it gets %d", strconv.FormatFloat(float64(hc.NanoCPUs)/1e9, 'f', -1, 64), spec.CPUs))
		}
	}
	if !hc.RestartPolicy.IsNone() {
		spec.Restart = restart.Policy{Mode: restart.Mode(hc.RestartPolicy.Name), MaxRetries: hc.RestartPolicy.MaximumRetryCount}
	}
	var err error
	if spec.Network, spec.NetworkAliases, err = networkFromCreate(c, hc, in.Networking); err != nil {
		return vms.Spec{}, nil, err
	}
	if len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0 {
		for _, a := range hc.DNS {
			spec.DNS.Servers = append(spec.DNS.Servers, a.String())
		}
		spec.DNS.Search, spec.DNS.Options = hc.DNSSearch, hc.DNSOptions
	}
	if spec.Ports, err = portsFromBindings(hc); err != nil {
		return vms.Spec{}, nil, err
	}
	if hc.PublishAllPorts {
		// The image's exposed ports are the VM service's to add (it
		// has the image); --expose ports come with the request.
		spec.PublishAll = true
		spec.Ports = append(spec.Ports, exposedUnbound(c, hc)...)
	}
	if spec.Mounts, err = mountsFrom(hc); err != nil {
		return vms.Spec{}, nil, err
	}
	return spec, warnings, nil
}

// networkFromCreate is the network a create puts the VM on (Spec.Network:
// the default for bridge and default, none, or a user network's name or
// id, which the VM service resolves) with the endpoint's aliases. A VM
// has one network interface: endpoints on several networks are refused.
func networkFromCreate(c container.Config, hc container.HostConfig, nc *network.NetworkingConfig) (string, []string, error) {
	mode := string(hc.NetworkMode)
	if c.NetworkDisabled || hc.NetworkMode.IsNone() {
		mode = vms.NetworkNone
	}
	if mode == network.NetworkDefault || mode == network.NetworkBridge {
		mode = vms.NetworkDefault
	}
	if nc == nil || len(nc.EndpointsConfig) == 0 {
		return mode, nil, nil
	}
	if len(nc.EndpointsConfig) > 1 {
		return mode, nil, refuse("several --network (NetworkingConfig.EndpointsConfig)", "a banger container is a VM with one network interface; it joins one network")
	}
	var aliases []string
	for name, ep := range nc.EndpointsConfig {
		if ep == nil {
			continue
		}
		builtin := name == network.NetworkBridge || name == network.NetworkDefault
		switch {
		case hc.NetworkMode == "" && !builtin:
			mode = name
		case name != string(hc.NetworkMode) && (mode != vms.NetworkDefault || !builtin):
			return mode, nil, refuse("--network "+name+" (NetworkingConfig.EndpointsConfig) beside NetworkMode "+string(hc.NetworkMode),
				"a banger container is a VM with one network interface; it joins one network")
		}
		if err := endpointRefusals(ep); err != nil {
			return mode, nil, err
		}
		aliases = ep.Aliases
	}
	return mode, aliases, nil
}

// tmpfsSpecs renders --tmpfs PATH:OPTIONS as banger's Tmpfs entries.
func tmpfsSpecs(m map[string]string) []string {
	var out []string
	for path, opts := range m {
		if opts != "" {
			path += ":" + opts
		}
		out = append(out, path)
	}
	return out
}

// portsFromBindings maps -p: each binding of an exposed port to a host
// port is banger's published port. A binding without a host port (-p
// 80, -p 127.0.0.1::80, or host port "0") is host port 0: banger picks a free one at each
// start. A host port range (-p 8000-8010:80) is refused.
func portsFromBindings(hc container.HostConfig) ([]hostnet.Port, error) {
	var out []hostnet.Port
	for port, bindings := range hc.PortBindings {
		if port.Proto() != "tcp" && port.Proto() != "udp" {
			return nil, refuse("-p "+string(port.Proto()), "banger publishes tcp and udp ports")
		}
		for _, b := range bindings {
			hostPort := 0
			if b.HostPort != "" && b.HostPort != "0" { // "0" is random too (testcontainers sends it)
				n, err := strconv.Atoi(b.HostPort)
				if err != nil || n < 1 || n > 65535 {
					return nil, refuse(fmt.Sprintf("-p %s:%s (host port %q)", b.HostPort, port, b.HostPort),
						"banger publishes one host port 1-65535 per binding, or picks one when none is given (-p "+port.Port()+")")
				}
				hostPort = n
			}
			p := hostnet.Port{HostPort: hostPort, GuestPort: int(port.Num()), Protocol: string(port.Proto())}
			if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
				p.HostIP = b.HostIP.String()
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// exposedUnbound are the request's exposed ports (--expose, -p) that no
// binding publishes, each with a host port to pick: -P's share of them.
func exposedUnbound(c container.Config, hc container.HostConfig) []hostnet.Port {
	var out []hostnet.Port
	for port := range c.ExposedPorts {
		if _, bound := hc.PortBindings[port]; bound {
			continue
		}
		if port.Proto() == "tcp" || port.Proto() == "udp" {
			out = append(out, hostnet.Port{GuestPort: int(port.Num()), Protocol: string(port.Proto())})
		}
	}
	slices.SortFunc(out, func(a, b hostnet.Port) int {
		return cmp.Or(a.GuestPort-b.GuestPort, strings.Compare(a.Protocol, b.Protocol))
	})
	return out
}

// mountsFrom maps -v (Binds) and --mount onto banger's mounts. Whether
// the caller may share a host path is vms.Authorize's to say (create).
func mountsFrom(hc container.HostConfig) ([]volumes.Mount, error) {
	var out []volumes.Mount
	for _, b := range hc.Binds {
		m, err := volumes.ParseVolumeFlag(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, m := range hc.Mounts {
		switch m.Type {
		case mount.TypeBind:
			out = append(out, volumes.Mount{Type: volumes.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		case mount.TypeVolume:
			out = append(out, volumes.Mount{Type: volumes.TypeVolume, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
		default:
			return nil, refuse("--mount type="+string(m.Type), "banger mounts bind and volume mounts (tmpfs: use --tmpfs)")
		}
	}
	return out, nil
}

// refusal is one option a VM cannot honour: set says the request asks
// for it.
type refusal struct {
	option, why string
	set         func(c container.Config, hc container.HostConfig) bool
}

const (
	whyKernel  = "a banger container is a microVM with its own kernel; it cannot share the host's"
	whyDevices = "a VM sees only the devices its VMM gives it; host devices are not passed through"
)

// refusalTable is what a VM cannot honour, checked in order.
var refusalTable = []refusal{
	{"--privileged (HostConfig.Privileged)", "the VM's root already has every capability inside its own kernel, and no access to the host's devices or kernel is given",
		func(_ container.Config, hc container.HostConfig) bool { return hc.Privileged }},
	{"--network host (HostConfig.NetworkMode)", whyKernel + " network stack; publish ports with -p instead",
		func(_ container.Config, hc container.HostConfig) bool { return hc.NetworkMode.IsHost() }},
	{"--network container:... (HostConfig.NetworkMode)", "each VM has its own network stack; it cannot join another container's",
		func(_ container.Config, hc container.HostConfig) bool { return hc.NetworkMode.IsContainer() }},
	{"--pid host (HostConfig.PidMode)", whyKernel + " process table",
		func(_ container.Config, hc container.HostConfig) bool { return hc.PidMode.IsHost() }},
	{"--pid container:... (HostConfig.PidMode)", "each VM has its own kernel and processes",
		func(_ container.Config, hc container.HostConfig) bool { return hc.PidMode.IsContainer() }},
	{"--ipc host (HostConfig.IpcMode)", whyKernel + " IPC namespace",
		func(_ container.Config, hc container.HostConfig) bool { return hc.IpcMode.IsHost() }},
	{"--ipc container:... (HostConfig.IpcMode)", "each VM has its own kernel and IPC",
		func(_ container.Config, hc container.HostConfig) bool { return hc.IpcMode.IsContainer() }},
	{"--uts host (HostConfig.UTSMode)", whyKernel + " host name",
		func(_ container.Config, hc container.HostConfig) bool { return hc.UTSMode.IsHost() }},
	{"--device (HostConfig.Devices)", whyDevices,
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.Devices) > 0 }},
	{"--gpus (HostConfig.DeviceRequests)", whyDevices,
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.DeviceRequests) > 0 }},
	{"--device-cgroup-rule (HostConfig.DeviceCgroupRules)", whyDevices,
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.DeviceCgroupRules) > 0 }},
	{"--cgroup-parent (HostConfig.CgroupParent)", "the VM's VMM is in a cgroup banger makes for it; the guest's own cgroups are inside the VM",
		func(_ container.Config, hc container.HostConfig) bool { return hc.CgroupParent != "" }},
	{"--cap-drop (HostConfig.CapDrop)", "the process runs as the VM's root with its kernel's capabilities; dropping some is not done",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.CapDrop) > 0 }},
	{"--security-opt (HostConfig.SecurityOpt)", "seccomp, AppArmor and SELinux profiles are not applied in the VM; the VM is the boundary",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.SecurityOpt) > 0 }},
	{"--volumes-from (HostConfig.VolumesFrom)", "not supported yet; name the volumes with -v",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.VolumesFrom) > 0 }},
	{"--link (HostConfig.Links)", "legacy links are not supported; use a network",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.Links) > 0 }},
	{"-v /PATH without a source (Config.Volumes, an anonymous volume)", "not supported yet; name a volume (-v NAME:/PATH)",
		func(c container.Config, hc container.HostConfig) bool { return anonymousVolumes(c, hc) }},
	{"--read-only (HostConfig.ReadonlyRootfs)", "not supported yet: the VM's root file system is its writable disk",
		func(_ container.Config, hc container.HostConfig) bool { return hc.ReadonlyRootfs }},
	{"--sysctl (HostConfig.Sysctls)", "not supported yet; set them in the VM",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.Sysctls) > 0 }},
	{"--ulimit (HostConfig.Ulimits)", "not supported yet",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.Ulimits) > 0 }},
	{"--pids-limit (HostConfig.PidsLimit)", "not supported yet: the VM's memory bounds its processes",
		func(_ container.Config, hc container.HostConfig) bool {
			return hc.PidsLimit != nil && *hc.PidsLimit > 0
		}},
	{"--cpu-shares, --cpu-quota, --cpu-period, --cpuset-cpus (HostConfig)", "a VM gets whole vCPUs; use --cpus",
		func(_ container.Config, hc container.HostConfig) bool {
			return hc.CPUShares != 0 || hc.CPUQuota != 0 || hc.CPUPeriod != 0 || hc.CpusetCpus != "" || hc.CpusetMems != ""
		}},
	{"--memory-swap (HostConfig.MemorySwap)", "a VM has no swap from the host; --memory is all it gets",
		func(_ container.Config, hc container.HostConfig) bool {
			return hc.MemorySwap > 0 && hc.MemorySwap != hc.Memory
		}},
	{"--blkio-weight, --device-read-bps, ... (HostConfig)", "block I/O limits are not applied to a VM's disk",
		func(_ container.Config, hc container.HostConfig) bool {
			return hc.BlkioWeight != 0 || len(hc.BlkioWeightDevice) > 0 || len(hc.BlkioDeviceReadBps) > 0 || len(hc.BlkioDeviceWriteBps) > 0 ||
				len(hc.BlkioDeviceReadIOps) > 0 || len(hc.BlkioDeviceWriteIOps) > 0
		}},
	{"--oom-kill-disable, --oom-score-adj (HostConfig)", "the guest kernel's OOM killer acts inside the VM",
		func(_ container.Config, hc container.HostConfig) bool {
			return (hc.OomKillDisable != nil && *hc.OomKillDisable) || hc.OomScoreAdj != 0
		}},
	{"--shm-size (HostConfig.ShmSize)", "not supported yet: /dev/shm is the guest's",
		func(_ container.Config, hc container.HostConfig) bool { return hc.ShmSize != 0 }},
	{"--group-add (HostConfig.GroupAdd)", "not supported yet; use --user USER:GROUP",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.GroupAdd) > 0 }},
	{"--add-host (HostConfig.ExtraHosts)", "not supported yet",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.ExtraHosts) > 0 }},
	{"--storage-opt (HostConfig.StorageOpt)", "a VM's disk is sized by banger's vm.disk",
		func(_ container.Config, hc container.HostConfig) bool { return len(hc.StorageOpt) > 0 }},
	{"--runtime (HostConfig.Runtime)", "every container is a banger VM",
		func(_ container.Config, hc container.HostConfig) bool {
			return hc.Runtime != "" && hc.Runtime != "banger"
		}},
	{"--log-driver (HostConfig.LogConfig)", "banger keeps a container's output in its json-file log",
		func(_ container.Config, hc container.HostConfig) bool {
			return hc.LogConfig.Type != "" && hc.LogConfig.Type != "json-file"
		}},
	{"--health-cmd (Config.Healthcheck)", "health checks are not run yet",
		func(c container.Config, _ container.HostConfig) bool {
			return c.Healthcheck != nil && len(c.Healthcheck.Test) > 0 && c.Healthcheck.Test[0] != "NONE"
		}},
	{"--stop-signal (Config.StopSignal)", "not supported yet: a stop sends the image's STOPSIGNAL; docker stop --signal names another",
		func(c container.Config, _ container.HostConfig) bool { return c.StopSignal != "" }},
	{"--stop-timeout (Config.StopTimeout)", "not supported yet: a stop waits vm.stop_timeout; docker stop -t names another",
		func(c container.Config, _ container.HostConfig) bool { return c.StopTimeout != nil }},
	{"--domainname (Config.Domainname)", "not supported yet",
		func(c container.Config, _ container.HostConfig) bool { return c.Domainname != "" }},
	{"MaskedPaths, ReadonlyPaths (HostConfig)", "the VM's kernel shows its own /proc and /sys",
		func(_ container.Config, hc container.HostConfig) bool {
			return len(hc.MaskedPaths) > 0 || len(hc.ReadonlyPaths) > 0
		}},
}

// anonymousVolumes says whether Config.Volumes names a path no bind,
// mount or tmpfs fills: an anonymous volume. Compose declares every
// volume of a service there as well as in Binds, as docker-py does, and
// Docker's daemon treats those as the bind's.
func anonymousVolumes(c container.Config, hc container.HostConfig) bool {
	filled := map[string]bool{}
	for _, b := range hc.Binds {
		if m, err := volumes.ParseVolumeFlag(b); err == nil {
			filled[path.Clean(m.Target)] = true
		}
	}
	for _, m := range hc.Mounts {
		filled[path.Clean(m.Target)] = true
	}
	for t := range hc.Tmpfs {
		filled[path.Clean(t)] = true
	}
	for v := range c.Volumes {
		if !filled[path.Clean(v)] {
			return true
		}
	}
	return false
}

// refusals returns the first option of the request a VM cannot honour.
func refusals(c container.Config, hc container.HostConfig) error {
	for _, r := range refusalTable {
		if r.set(c, hc) {
			return refuse(r.option, r.why)
		}
	}
	return nil
}

// refusedOptions lists the options refused, for the docs and tests.
func refusedOptions() []string {
	var out []string
	for _, r := range refusalTable {
		out = append(out, strings.SplitN(r.option, " (", 2)[0])
	}
	return out
}
