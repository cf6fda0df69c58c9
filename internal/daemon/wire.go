package daemon

import (
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/pkg/api"
)

// The services hold domain records (what the store keeps); the API sends
// its own types, so either can change without the other. These functions
// are the one place a record becomes what a client receives.

func wireImage(img images.Image) api.Image {
	return api.Image{
		ID: img.ID, Name: img.Name, Source: img.Source, Digest: img.Digest, Platform: img.Platform, PlatformAssumed: img.PlatformAssumed,
		Rootfs: img.Rootfs, SizeBytes: img.SizeBytes, ContentBytes: img.ContentBytes, Inodes: img.Inodes,
		Skipped: img.Skipped, Config: api.ImageConfig(img.Config),
		AgentVersion: img.AgentVersion, AgentSHA256: img.AgentSHA256, HeldBoot: img.HeldBoot, Layers: img.Layers, Created: img.Created,
	}
}

func wirePushResult(r imagepull.PushResult) api.PushResult {
	return api.PushResult{Reference: r.Reference, Digest: r.Digest, Layers: r.Layers, Uploaded: r.Uploaded}
}

func wireKernel(k kernelcat.Kernel) api.Kernel {
	w := api.Kernel{
		Name: k.Name, Version: k.Version, Arch: k.Arch, Dir: k.Dir,
		Vmlinux: k.Vmlinux, VmlinuxSHA256: k.VmlinuxSHA256, PVH: k.PVH,
		BzImage: k.BzImage, PayloadCodec: k.PayloadCodec,
		Config: k.Config, ConfigSource: k.ConfigSource,
		Initrd: k.Initrd, InitrdCodec: k.InitrdCodec, InitrdModules: k.InitrdModules, InitrdOnDemand: k.InitrdOnDemand,
		AgentSHA256: k.AgentSHA256, Modules: k.Modules,
		Default: k.Default, Source: k.Source, SizeBytes: k.SizeBytes, Created: k.Created,
	}
	for _, c := range k.Checks {
		w.Checks = append(w.Checks, api.KernelCheck(c))
	}
	return w
}

// wireList converts a list of records; none is [] on the wire, not null.
func wireList[R, W any](records []R, convert func(R) W) []W {
	out := make([]W, 0, len(records))
	for _, r := range records {
		out = append(out, convert(r))
	}
	return out
}
