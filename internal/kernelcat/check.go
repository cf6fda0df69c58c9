package kernelcat

import (
	"fmt"
	"strings"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/kernelcat/kconfig"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// need is one kernel feature banger's guests use.
type need struct {
	option string
	what   string
	// module is the module providing the option when it is =m ("" for
	// options that cannot be modules).
	module string
	// essential: the import is refused without it. Options sharing a
	// group are alternatives: one of them suffices.
	essential bool
	group     string
	// onDemand names the initramfs module group the option's module goes
	// in: loaded only by the VMs that ask for it (bootcfg.ArgLoad).
	onDemand string
}

// needs lists what banger's guests use, in the order checks are shown.
// The module names are the kernel's (kmod.Normalize'd).
var needs = []need{
	{option: "EXT4_FS", what: "ext4, the root file system", module: "ext4", essential: true},
	{option: "VIRTIO_BLK", what: "virtio block device, the root disk", module: "virtio_blk", essential: true},
	{option: "VIRTIO_MMIO", what: "virtio-mmio transport (Firecracker, QEMU microvm)", module: "virtio_mmio", essential: true, group: "transport"},
	{option: "VIRTIO_PCI", what: "virtio-pci transport (QEMU pc/q35)", module: "virtio_pci", essential: true, group: "transport"},
	{option: "VIRTIO_NET", what: "virtio network device", module: "virtio_net"},
	{option: "VIRTIO_CONSOLE", what: "virtio console, the agent channel under QEMU", module: "virtio_console"},
	{option: "HW_RANDOM_VIRTIO", what: "virtio entropy device, for a fast CRNG at boot", module: "virtio_rng"},
	{option: "VSOCKETS", what: "vsock sockets", module: "vsock"},
	{option: "VIRTIO_VSOCKETS", what: "virtio vsock transport, the agent channel under Firecracker", module: "vmw_vsock_virtio_transport"},
	{option: "DEVTMPFS", what: "devtmpfs, /dev without udev"},
	{option: "SERIAL_8250_CONSOLE", what: "serial console (console=ttyS0)"},
	{option: "ACPI", what: "ACPI (device discovery and power-off on QEMU microvm)"},
	// QEMU's system_powerdown presses the ACPI power button; the agent
	// sees it as a KEY_POWER input event, which needs both drivers.
	{option: "ACPI_BUTTON", what: "ACPI power button, for a clean shutdown on QEMU", module: "button"},
	{option: "INPUT_EVDEV", what: "input event devices, how the agent sees the power button", module: "evdev"},
	// Shared directories (`run -v /host:/guest`) are virtio-fs mounts,
	// a FUSE file system.
	{option: "FUSE_FS", what: "FUSE, which virtio-fs is built on (-v /host:/guest)", module: "fuse", onDemand: bootcfg.ModulesVirtioFS},
	{option: "VIRTIO_FS", what: "virtio-fs, shared host directories (-v /host:/guest)", module: "virtiofs", onDemand: bootcfg.ModulesVirtioFS},
	// A pod VM's containers run on an overlay (a tmpfs upper) over
	// their image's tree, which the host shares through virtio-fs: a VM
	// that shares directories loads it too.
	{option: "OVERLAY_FS", what: "overlayfs, the root of a container in a pod VM", module: "overlay", onDemand: bootcfg.ModulesVirtioFS},
}

// HasVirtioFS reports whether a kernel whose checks are these mounts
// virtio-fs: both options built in, or modules that the initramfs
// carries (a module missing from the kernel's package is marked missing
// at import).
func HasVirtioFS(checks []Check) bool {
	found := 0
	for _, c := range checks {
		if (c.Option == "CONFIG_FUSE_FS" || c.Option == "CONFIG_VIRTIO_FS") && c.State != string(kconfig.Missing) {
			found++
		}
	}
	return found == 2
}

// Classify checks cfg against what banger needs.
func Classify(cfg kconfig.Config) []Check {
	checks := make([]Check, 0, len(needs))
	for _, n := range needs {
		c := Check{Option: "CONFIG_" + n.option, State: string(cfg.State(n.option)), Essential: n.essential, Need: n.what}
		if c.State == string(kconfig.Module) {
			c.Module = n.module
		}
		checks = append(checks, c)
	}
	return checks
}

// MissingEssentials returns a refusal naming every essential option the
// kernel lacks, or nil. A group (the virtio transports) is missing only
// when all its options are.
func MissingEssentials(checks []Check) error {
	var missing []string
	groups := map[string][]string{}
	satisfied := map[string]bool{}
	for i, c := range checks {
		n := needs[i]
		if !c.Essential {
			continue
		}
		ok := c.State != string(kconfig.Missing)
		if n.group == "" {
			if !ok {
				missing = append(missing, c.Option+" ("+n.what+")")
			}
			continue
		}
		groups[n.group] = append(groups[n.group], c.Option)
		satisfied[n.group] = satisfied[n.group] || ok
	}
	for g, opts := range groups {
		if !satisfied[g] {
			missing = append(missing, strings.Join(opts, " or ")+" (a virtio "+g+")")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the kernel cannot boot banger's guests: missing %s; rebuild it with these options (=y, or =m with its modules)",
		errdefs.ErrInvalid, strings.Join(missing, ", "))
}

// NeededModules lists, in check order, the modules providing options the
// config has as =m that every VM loads.
func NeededModules(checks []Check) []string {
	return modulesOf(checks, "")
}

// OnDemandModules lists, by group, the modules only the VMs that ask for
// their group load.
func OnDemandModules(checks []Check) map[string][]string {
	groups := map[string][]string{}
	for _, n := range needs {
		if n.onDemand != "" && groups[n.onDemand] == nil {
			if mods := modulesOf(checks, n.onDemand); len(mods) > 0 {
				groups[n.onDemand] = mods
			}
		}
	}
	return groups
}

// modulesOf lists the =m modules of the checks in group ("": every VM's).
func modulesOf(checks []Check, group string) []string {
	onDemand := map[string]string{}
	for _, n := range needs {
		onDemand["CONFIG_"+n.option] = n.onDemand
	}
	var mods []string
	for _, c := range checks {
		if c.Module != "" && onDemand[c.Option] == group {
			mods = append(mods, c.Module)
		}
	}
	return mods
}
