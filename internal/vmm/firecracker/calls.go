package firecracker

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// GuestCID is the guest's vsock context id. Hybrid vsock is a unix socket
// per VM, not the host's vhost-vsock, so every guest can use the first
// non-reserved CID.
const GuestCID = 3

// Limits of Firecracker v1.16.1 (MachineConfiguration, resource ids).
const (
	maxVCPUs = 32
	maxIDLen = 64
)

// guestArgs are the kernel arguments a Firecracker guest needs, appended
// when the daemon's command line does not set the same key: the serial
// console Firecracker forwards to its stdout; reboot=k so a guest reboot
// (and SendCtrlAltDel) makes Firecracker exit; panic=1 so a panicking
// guest does too; pci=off as the MMIO-only machine has no PCI; the i8042
// flags skip probing the minimal keyboard controller (which must stay
// enabled: SendCtrlAltDel goes through it).
var guestArgs = []string{
	"console=ttyS0", "reboot=k", "panic=1", "pci=off",
	"i8042.noaux", "i8042.nomux", "i8042.nopnp", "i8042.dumbkbd",
}

// bootArgs appends guestArgs to the daemon's command line, before any
// "--" that starts init's own arguments.
func bootArgs(cmdline string) string {
	kernel, initArgs, hasInit := strings.Cut(" "+cmdline+" ", " -- ")
	have := map[string]bool{}
	fields := strings.Fields(kernel)
	for _, f := range fields {
		k, _, _ := strings.Cut(f, "=")
		have[k] = true
	}
	for _, a := range guestArgs {
		k, _, _ := strings.Cut(a, "=")
		if !have[k] {
			fields = append(fields, a)
		}
	}
	out := strings.Join(fields, " ")
	if hasInit {
		out += " -- " + strings.TrimSpace(initArgs)
	}
	return strings.TrimSpace(out)
}

// vmPaths are the paths the VMM is given: host paths, or jail-relative
// ones under the jailer. Drives is parallel to Spec.Drives.
type vmPaths struct {
	Kernel, Initrd, Log, Metrics, Vsock string
	Drives                              []string
}

var badIDChars = regexp.MustCompile(`[^A-Za-z0-9_]`)

// resourceID turns a banger drive or NIC id into a Firecracker resource id
// (alphanumeric and underscores, at most 64), with a fallback when unset.
func resourceID(id, fallback string) string {
	if id == "" {
		id = fallback
	}
	id = badIDChars.ReplaceAllString(id, "_")
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	return id
}

// driveIDs returns the Firecracker id of each drive, in spec order.
func driveIDs(drives []vmm.Drive) []string {
	ids := make([]string, len(drives))
	for i, d := range drives {
		fallback := fmt.Sprintf("drive%d", i)
		if d.Root {
			fallback = "rootfs"
		}
		ids[i] = resourceID(d.ID, fallback)
	}
	return ids
}

// validate checks what Firecracker would refuse, so the user gets the
// reason before a process starts.
func validate(spec vmm.Spec) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("vm %s: %w: "+f, append([]any{spec.ID, errdefs.ErrInvalid}, a...)...)
	}
	switch {
	case !instanceID().MatchString(spec.ID):
		return bad("firecracker needs an id of 1 to 64 letters, digits or hyphens")
	case spec.RuntimeDir == "":
		return bad("no runtime dir")
	case spec.Kernel.Vmlinux == "":
		return bad("firecracker boots an uncompressed ELF kernel (vmlinux) and the kernel has none")
	case spec.CPUs < 1 || spec.CPUs > maxVCPUs:
		return bad("%d vCPUs: firecracker takes 1 to %d", spec.CPUs, maxVCPUs)
	case spec.MemoryMiB < 1:
		return bad("memory %d MiB", spec.MemoryMiB)
	case len(spec.SharedDirs) > 0:
		return bad("firecracker has no virtio-fs: it cannot share host directories (attach them as drives)")
	}
	for _, n := range spec.NICs {
		if n.Netns != "" {
			return fmt.Errorf("vm %s: nic %s: %w: firecracker opens taps in its own network namespace and cannot reach %s; use --vmm qemu", spec.ID, n.ID, errdefs.ErrUnsupported, n.Netns)
		}
	}
	roots, seen := 0, map[string]bool{}
	for i, id := range driveIDs(spec.Drives) {
		d := spec.Drives[i]
		if d.Format != "" && d.Format != "raw" {
			return bad("drive %s is %s: firecracker reads raw images only", id, d.Format)
		}
		if d.Root {
			roots++
		}
		if seen[id] {
			return bad("two drives have the id %s", id)
		}
		seen[id] = true
	}
	if roots > 1 {
		return bad("%d root drives; at most one", roots)
	}
	return nil
}

// Compiled on first use: a counted repetition compiles to a program the
// size of its count, which every CLI start would pay at init.
var instanceID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`) })

// bootCalls is the configuration of one VM as the ordered API calls that
// make it, ending with InstanceStart. Root drive first, so it is /dev/vda.
func bootCalls(spec vmm.Spec, p vmPaths, trackDirty bool) []Call {
	calls := []Call{
		{http.MethodPut, "/logger", Logger{LogPath: p.Log, Level: "Info", ShowLevel: true}},
		{http.MethodPut, "/metrics", Metrics{MetricsPath: p.Metrics}},
		{http.MethodPut, "/machine-config", MachineConfig{
			VCPUCount: spec.CPUs, MemSizeMiB: spec.MemoryMiB, TrackDirtyPages: trackDirty,
		}},
		{http.MethodPut, "/boot-source", BootSource{
			KernelImagePath: p.Kernel, InitrdPath: p.Initrd, BootArgs: bootArgs(spec.Cmdline),
		}},
	}
	ids := driveIDs(spec.Drives)
	for _, root := range []bool{true, false} {
		for i, d := range spec.Drives {
			if d.Root != root {
				continue
			}
			calls = append(calls, Call{http.MethodPut, "/drives/" + ids[i], Drive{
				DriveID: ids[i], PathOnHost: p.Drives[i], IsRootDevice: d.Root, IsReadOnly: d.ReadOnly,
			}})
		}
	}
	for i, n := range spec.NICs {
		id := resourceID(n.ID, fmt.Sprintf("eth%d", i))
		calls = append(calls, Call{http.MethodPut, "/network-interfaces/" + id, NetworkInterface{
			IfaceID: id, HostDevName: n.Tap, GuestMAC: n.MAC, MTU: n.MTU,
		}})
	}
	return append(calls,
		Call{http.MethodPut, "/vsock", Vsock{GuestCID: GuestCID, UDSPath: p.Vsock}},
		Call{http.MethodPut, "/entropy", EntropyDevice{}},
		Call{http.MethodPut, "/actions", InstanceActionInfo{ActionType: ActionInstanceStart}},
	)
}
