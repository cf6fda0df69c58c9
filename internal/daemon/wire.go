package daemon

import (
	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/kernelcat"
)

// The services hold domain records (what the store keeps); the API sends
// its own types, so either can change without the other. These functions
// are the one place a record becomes what a client receives.

func wireKernel(k kernelcat.Kernel) api.Kernel {
	w := api.Kernel{
		Name: k.Name, Version: k.Version, Arch: k.Arch, Dir: k.Dir,
		Vmlinux: k.Vmlinux, VmlinuxSHA256: k.VmlinuxSHA256, PVH: k.PVH,
		BzImage: k.BzImage, PayloadCodec: k.PayloadCodec,
		Config: k.Config, ConfigSource: k.ConfigSource,
		Initrd: k.Initrd, InitrdCodec: k.InitrdCodec, InitrdModules: k.InitrdModules,
		AgentSHA256: k.AgentSHA256, Modules: k.Modules,
		Default: k.Default, Source: k.Source, SizeBytes: k.SizeBytes, Created: k.Created,
	}
	for _, c := range k.Checks {
		w.Checks = append(w.Checks, api.KernelCheck(c))
	}
	return w
}

func wireKernels(ks []kernelcat.Kernel) []api.Kernel {
	out := make([]api.Kernel, 0, len(ks))
	for _, k := range ks {
		out = append(out, wireKernel(k))
	}
	return out
}
