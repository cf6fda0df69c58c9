package dockerapi

import (
	"cmp"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
)

// inspectResponse is `docker inspect` of a VM: its state, the config it
// runs with (the spec over the image's), its host config as created,
// its network and mounts.
func inspectResponse(vm vms.VM, img images.Image) container.InspectResponse {
	args := vms.Argv(vm.Spec, img.Config)
	resp := container.InspectResponse{
		ID: containerID(vm.ID), Created: dockerTime(vm.Created), Image: vm.ImageID, Name: "/" + vm.Name,
		RestartCount: vm.Restarts.Count, Driver: "banger", Platform: "linux", Mounts: mountPoints(vm.Spec),
		State: &container.State{
			Status: containerState(vm.State), Running: vm.State == vms.Running || vm.State == vms.Paused,
			Paused: vm.State == vms.Paused, Restarting: vm.State == vms.Restarting, OOMKilled: vm.OOMKilled,
			ExitCode: exitCode(vm), Error: vm.Error, StartedAt: dockerTime(vm.Started), FinishedAt: dockerTime(vm.Stopped),
		},
		Config: &container.Config{
			Hostname: vm.Spec.Hostname, User: cmp.Or(vm.Spec.User, img.Config.User), Env: vm.Spec.Env,
			Cmd: vm.Spec.Cmd, Entrypoint: vm.Spec.Entrypoint, Image: vm.Spec.Image,
			WorkingDir: cmp.Or(vm.Spec.WorkingDir, img.Config.WorkingDir), Labels: vm.Spec.Labels,
			Tty: vm.Spec.TTY, OpenStdin: vm.Spec.Interactive, StdinOnce: vm.Spec.Interactive,
			AttachStdin: vm.Spec.Interactive && !vm.Spec.Detach, AttachStdout: !vm.Spec.Detach, AttachStderr: !vm.Spec.Detach,
		},
		HostConfig: &container.HostConfig{
			NetworkMode: container.NetworkMode(networkMode(vm.Spec)), PortBindings: ports(vm.Spec.Ports), PublishAllPorts: vm.Spec.PublishAll,
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(vm.Spec.Restart.Mode), MaximumRetryCount: vm.Spec.Restart.MaxRetries},
			AutoRemove:    vm.Spec.AutoRemove,
			Resources:     container.Resources{Memory: int64(vm.Spec.MemoryMiB) * mib, NanoCPUs: int64(vm.Spec.CPUs) * 1e9},
		},
		NetworkSettings: &container.NetworkSettings{Ports: ports(vms.Published(vm)), Networks: endpoints(vm)},
	}
	if len(args) > 0 {
		resp.Path, resp.Args = args[0], args[1:]
	}
	if resp.Args == nil {
		resp.Args = []string{}
	}
	if resp.Config.Cmd == nil {
		resp.Config.Cmd = img.Config.Cmd
	}
	if resp.Config.Entrypoint == nil {
		resp.Config.Entrypoint = img.Config.Entrypoint
	}
	if resp.HostConfig.RestartPolicy.Name == "" {
		resp.HostConfig.RestartPolicy.Name = container.RestartPolicyDisabled
	}
	if vm.State.Live() {
		resp.State.Pid = vm.Runtime.PID
	}
	for _, m := range vm.Spec.Mounts {
		resp.HostConfig.Binds = append(resp.HostConfig.Binds, m.Flag()[len("-v "):])
	}
	return resp
}

// legacyInspect is inspect as API versions before 1.44 answer it: the
// default network's address, gateway and MAC also at the top of
// NetworkSettings (`docker inspect -f '{{.NetworkSettings.IPAddress}}'`
// of the 1.41 CLI reads them there).
type legacyInspect struct {
	container.InspectResponse
	NetworkSettings legacyNetworkSettings
}

type legacyNetworkSettings struct {
	*container.NetworkSettings
	IPAddress   string
	IPPrefixLen int
	Gateway     string
	MacAddress  string
}

// inspectFor answers resp in the shape the request's API version reads.
func inspectFor(version string, resp container.InspectResponse) any {
	if !lessVersion(version, "1.44") {
		return resp
	}
	out := legacyInspect{InspectResponse: resp, NetworkSettings: legacyNetworkSettings{NetworkSettings: resp.NetworkSettings}}
	if ep := resp.NetworkSettings.Networks[bridgeNetwork]; ep != nil {
		out.NetworkSettings.IPAddress, out.NetworkSettings.IPPrefixLen = addrString(ep), ep.IPPrefixLen
		if ep.Gateway.IsValid() {
			out.NetworkSettings.Gateway = ep.Gateway.String()
		}
		if len(ep.MacAddress) > 0 {
			out.NetworkSettings.MacAddress = ep.MacAddress.String()
		}
	}
	return out
}

func addrString(ep *network.EndpointSettings) string {
	if ep.IPAddress.IsValid() {
		return ep.IPAddress.String()
	}
	return ""
}
