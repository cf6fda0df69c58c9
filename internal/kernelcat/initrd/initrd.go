// Package initrd builds the initramfs banger gives kernels whose needed
// drivers are modules, and defines its contract with the guest agent:
//
//   - a newc cpio, compressed with a codec the kernel supports (Choose);
//   - /init is banger-agent, mode 0755;
//   - /lib/modules/<release>/<path>.ko are exactly the needed modules and
//     their dependencies, decompressed;
//   - /.banger/initrd.json is a Manifest: the modules' absolute paths in
//     load order (each after its dependencies), which the agent loads with
//     finit_module before it waits for the root disk and switch_roots;
//     and on-demand groups (virtio-fs), loaded after them only by the VMs
//     whose kernel command line names the group (bootcfg.ArgLoad);
//   - /dev/console (c 5 1) and the mount points /dev, /proc, /sys, /run and
//     /tmp exist, so /init has a console from its first instruction.
//
// Archives are reproducible: entries are written in a fixed order with a
// zero mtime and root ownership.
package initrd

import (
	"path"
)

// ManifestPath is where the manifest lives inside the initramfs.
const ManifestPath = "/.banger/initrd.json"

// ManifestVersion is the manifest format's version.
const ManifestVersion = 1

// Manifest is /.banger/initrd.json.
type Manifest struct {
	Version       int    `json:"version"`
	KernelRelease string `json:"kernel_release"`
	// Modules are absolute paths inside the initramfs, in load order.
	Modules []string `json:"modules"`
	// OnDemand are module groups a VM loads, after Modules, only when it
	// asks for them; each in load order, without what Modules holds.
	OnDemand map[string][]string `json:"on_demand,omitempty"`
}

// ModulePath is where a module (its path relative to lib/modules/<release>,
// without compression suffix) goes inside the initramfs.
func ModulePath(release, rel string) string {
	return path.Join("/lib/modules", release, rel)
}
