package qemu

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The accelerators.
const (
	AccelKVM = "kvm"
	AccelTCG = "tcg"
)

// Files the backend creates in a VM's runtime dir; Cleanup removes them.
const (
	qmpSocket   = "qmp.sock"
	agentSocket = "agent.sock"
	stderrLog   = "qemu.log"
)

// runtimeFiles lists them, for Cleanup and the leak checks.
var runtimeFiles = []string{qmpSocket, agentSocket, stderrLog}

// machineType is the machine and its options, shared by VMs and the KVM
// probe so the probe tests the machine VMs get. The RTC gives the guest the
// time of day at boot; ACPI carries the virtio-mmio device list and the
// power button.
const machineType = "microvm,acpi=on,rtc=on,isa-serial=on"

// maxSocketPath is the longest unix socket path (sun_path is 108 bytes with
// its NUL).
const maxSocketPath = 107

// launch is everything QEMU's command line is built from.
type launch struct {
	spec  vmm.Spec
	accel string
	// tscKHz is the host TSC rate passed as tsc_early_khz under TCG; 0
	// leaves it out.
	tscKHz int64
	// kernel is the image -kernel gets (kernelImage); empty means the
	// bzImage, else the vmlinux.
	kernel string
	// backing maps a qcow2 drive's path to its backing file (read from
	// its header), which QEMU gets as a descriptor too.
	backing map[string]backingFile
	// sandbox is QEMU's -sandbox value; empty leaves it out.
	sandbox string
	// memFile, when set, backs guest RAM with this file: shared (the
	// source of a snapshot, Spec.MemoryFile) or a private copy-on-write
	// mapping (a machine restored from a snapshot's RAM file).
	memFile  string
	memShare bool
	// incoming, a state file, starts QEMU waiting for a migration stream
	// (restore) instead of booting; the file is the last descriptor QEMU
	// inherits (stateFD).
	incoming string
}

// backingFile is a qcow2 overlay's backing file.
type backingFile struct{ Path, Format string }

func (l launch) qmpPath() string   { return filepath.Join(l.spec.RuntimeDir, qmpSocket) }
func (l launch) agentPath() string { return filepath.Join(l.spec.RuntimeDir, agentSocket) }

// cpuModel is "host" under KVM and "max" under TCG, whose RDRAND seeds the
// guest CRNG at once (ed25519 key generation 1.04 s → 16 ms;
// docs/architecture.md, "Traps": entropy).
func cpuModel(accel string) string {
	if accel == AccelKVM {
		return "host"
	}
	return "max"
}

// commandLine returns QEMU's arguments (without the binary) for l, and the
// files QEMU inherits (see inherited). It checks what QEMU would otherwise
// reject obscurely.
func commandLine(l launch) ([]string, []inherited, error) {
	s := l.spec
	if err := checkSpec(l); err != nil {
		return nil, nil, err
	}
	kernel := l.kernel
	if kernel == "" {
		kernel = s.Kernel.BzImage
	}
	if kernel == "" {
		kernel = s.Kernel.Vmlinux
	}
	// Guest RAM is always the memory backend named memID, whatever holds
	// it: migration matches RAM by that name, so a snapshot of any
	// machine restores into any other (see memoryArgs).
	machine := machineType + ",memory-backend=" + memID
	var fds fdPlan
	args := []string{
		"-name", "guest=banger-" + opt(s.ID),
		"-M", machine,
		"-accel", l.accel,
		"-cpu", cpuModel(l.accel),
		"-smp", strconv.Itoa(s.CPUs),
		"-m", strconv.Itoa(s.MemoryMiB),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-no-reboot",
	}
	if l.sandbox != "" {
		args = append(args, "-sandbox", l.sandbox)
	}
	args = append(args, "-kernel", fds.path(kernel))
	if s.Kernel.Initrd != "" {
		args = append(args, "-initrd", fds.path(s.Kernel.Initrd))
	}
	args = append(args, "-append", guestCmdline(s.Cmdline, l.accel, l.tscKHz))
	args = append(args, fds.set(s.ConsoleLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE)...)
	args = append(args,
		"-chardev", "file,id=console,path="+fds.lastSet()+",append=on",
		"-serial", "chardev:console",
		"-chardev", "socket,id=qmp,fd="+fds.socket(l.qmpPath())+",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-object", "rng-random,id=rng0,filename=/dev/urandom",
		"-device", "virtio-rng-device,rng=rng0",
		"-device", "virtio-serial-device,id=vser0",
		"-chardev", "socket,id=agent,fd="+fds.socket(l.agentPath())+",server=on,wait=off",
		"-device", "virtserialport,bus=vser0.0,chardev=agent,name="+vmm.AgentPortName,
	)
	args = append(args, memoryArgs(l, &fds)...)
	args = append(args, sharedDirArgs(s, &fds)...)
	for i, d := range orderDrives(s.Drives) {
		id := "disk" + strconv.Itoa(i)
		format := d.Format
		if format == "" {
			format = "raw"
		}
		// A writable drive's set holds a read-write and a read-only
		// descriptor: QEMU opens images read-only first in places.
		flags := []int{os.O_RDWR, os.O_RDONLY}
		if d.ReadOnly {
			flags = flags[1:]
		}
		args = append(args, fds.set(d.Path, flags...)...)
		drive := "id=" + id + ",if=none,file=" + fds.lastSet() + ",format=" + format
		if b, ok := l.backing[d.Path]; ok && format == vmm.FormatQCOW2 {
			args = append(args, fds.set(b.Path, os.O_RDONLY)...)
			drive += ",backing.file.filename=" + fds.lastSet()
			if b.Format != "" {
				drive += ",backing.driver=" + opt(b.Format)
			}
		}
		if d.ReadOnly {
			drive += ",readonly=on"
		} else {
			// No image lock on a writable drive: its set's two
			// descriptors are two open files, and QEMU 7.2 re-taking
			// the lock with them conflicts with itself ("Failed to get
			// "write" lock") when a machine resumes after a save, so a
			// checkpointed source could not go on. The disk is this
			// VM's alone, handed to this QEMU only (see files.go).
			drive += ",discard=unmap,file.locking=off"
		}
		args = append(args, "-drive", drive, "-device", "virtio-blk-device,drive="+id)
	}
	for i, n := range s.NICs {
		id := "net" + strconv.Itoa(i)
		dev := "virtio-net-device,netdev=" + id
		if n.MAC != "" {
			dev += ",mac=" + n.MAC
		}
		if n.MTU > 0 {
			dev += ",host_mtu=" + strconv.Itoa(n.MTU)
		}
		args = append(args,
			"-netdev", "tap,id="+id+",fd="+fds.tap(n),
			"-device", dev)
	}
	if l.incoming != "" {
		fds.add(inherited{Path: l.incoming, Flag: os.O_RDONLY})
		args = append(args, "-incoming", "defer")
	}
	return args, fds.files, nil
}

// memID names guest RAM's memory backend.
const memID = "mem"

// memoryArgs is guest RAM: a shared memfd for virtio-fs (see
// sharedDirArgs), a file (l.memFile) or anonymous memory. QEMU maps the
// file through a descriptor the daemon opened (read-write: QEMU 7.2's
// readonly=on would make guest RAM read-only too).
func memoryArgs(l launch, fds *fdPlan) []string {
	size := ",size=" + strconv.Itoa(l.spec.MemoryMiB) + "M"
	switch {
	case len(l.spec.SharedDirs) > 0:
		return []string{"-object", "memory-backend-memfd,id=" + memID + size + ",share=on"}
	case l.memFile != "":
		flag := os.O_RDWR
		if l.memShare {
			flag |= os.O_CREATE
		}
		path := "/proc/self/fd/" + fds.add(inherited{Path: l.memFile, Flag: flag})
		return []string{"-object", "memory-backend-file,id=" + memID + size + ",mem-path=" + path + ",share=" + onOff(l.memShare)}
	default:
		return []string{"-object", "memory-backend-ram,id=" + memID + size}
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// sharedDirArgs are the virtio-fs devices of s, and what they need of the
// machine (measured with QEMU 7.2, see the package doc): guest RAM as a
// shared memfd, which the vhost-user backend maps, and modern
// virtio-mmio, without which virtiofsd dies at the first request
// ("virtio legacy devices aren't supported by libvhost-user"). QEMU gets
// each virtiofsd socket connected by the daemon, as it gets every file.
func sharedDirArgs(s vmm.Spec, fds *fdPlan) []string {
	if len(s.SharedDirs) == 0 {
		return nil
	}
	args := []string{"-global", "virtio-mmio.force-legacy=false"}
	for i, d := range s.SharedDirs {
		id := "fs" + strconv.Itoa(i)
		args = append(args,
			"-chardev", "socket,id="+id+",fd="+fds.connected(d.Socket),
			"-device", "vhost-user-fs-device,chardev="+id+",tag="+opt(d.Tag))
	}
	return args
}

// guestCmdline appends what the machine needs to the daemon's arguments:
// the console on the ISA serial port, the TSC rate under TCG (see the
// package doc), and panic/reboot behaviour that ends the VMM (with
// -no-reboot) instead of hanging or rebooting.
func guestCmdline(base, accel string, tscKHz int64) string {
	parts := []string{}
	if b := strings.TrimSpace(base); b != "" {
		parts = append(parts, b)
	}
	parts = append(parts, "console=ttyS0", "reboot=t", "panic=-1")
	if accel == AccelTCG && tscKHz > 0 {
		parts = append(parts, "tsc_early_khz="+strconv.FormatInt(tscKHz, 10))
	}
	return strings.Join(parts, " ")
}

// orderDrives puts the first root drive first, so it becomes /dev/vda
// (virtio-mmio devices are probed in command-line order).
func orderDrives(ds []vmm.Drive) []vmm.Drive {
	out := make([]vmm.Drive, 0, len(ds))
	root := -1
	for i, d := range ds {
		if d.Root {
			root = i
			out = append(out, d)
			break
		}
	}
	for i, d := range ds {
		if i != root {
			out = append(out, d)
		}
	}
	return out
}

// checkSpec rejects specs QEMU would fail on, with errors that name the
// field.
func checkSpec(l launch) error {
	s := l.spec
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{errdefs.ErrInvalid}, args...)...)
	}
	switch {
	case s.ID == "":
		return bad("spec has no VM id")
	case l.accel != AccelKVM && l.accel != AccelTCG:
		return bad("accelerator %q: want kvm or tcg", l.accel)
	case s.Kernel.BzImage == "" && s.Kernel.Vmlinux == "":
		return bad("spec names no kernel")
	case s.CPUs < 1 || s.CPUs > 255:
		return bad("cpus %d: want 1..255", s.CPUs)
	case s.MemoryMiB < 64:
		return bad("memory %d MiB: want at least 64", s.MemoryMiB)
	case s.RuntimeDir == "" || s.ConsoleLog == "":
		return bad("spec needs a runtime dir and a console log path")
	case len(l.qmpPath()) > maxSocketPath || len(l.agentPath()) > maxSocketPath:
		return bad("runtime dir %s is too long for unix socket paths (max %d bytes); use a shorter run dir", s.RuntimeDir, maxSocketPath)
	}
	for _, d := range s.Drives {
		if d.Path == "" {
			return bad("drive %q has no path", d.ID)
		}
		if d.Format != "" && d.Format != "raw" && d.Format != "qcow2" {
			return bad("drive %q format %q: want raw or qcow2", d.ID, d.Format)
		}
	}
	tags := map[string]bool{}
	for _, d := range s.SharedDirs {
		switch {
		case d.Tag == "" || len(d.Tag) > vmm.MaxTagLen:
			return bad("shared dir tag %q: want 1..%d bytes", d.Tag, vmm.MaxTagLen)
		case tags[d.Tag]:
			return bad("two shared dirs have the tag %q", d.Tag)
		case d.Socket == "" || len(d.Socket) > maxSocketPath:
			return bad("shared dir %q socket %q: want 1..%d bytes", d.Tag, d.Socket, maxSocketPath)
		}
		tags[d.Tag] = true
	}
	if len(s.SharedDirs) > 0 && l.memFile != "" {
		return bad("guest RAM cannot be both a file (memory file %s) and the shared memory virtio-fs needs", l.memFile)
	}
	for _, n := range s.NICs {
		if n.Tap == "" || len(n.Tap) > 15 {
			return bad("nic %q tap %q: want 1..15 characters", n.ID, n.Tap)
		}
		if n.MAC != "" {
			if _, err := net.ParseMAC(n.MAC); err != nil {
				return bad("nic %q mac %q: %v", n.ID, n.MAC, err)
			}
		}
	}
	return nil
}

// opt escapes a value inside a QEMU option list, where a comma separates
// options and ",," stands for a literal comma.
func opt(s string) string { return strings.ReplaceAll(s, ",", ",,") }
