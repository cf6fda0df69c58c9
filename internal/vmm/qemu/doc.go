// Package qemu runs banger guests under qemu-system-x86_64 -M microvm: the
// same guests Firecracker runs, on hosts where Firecracker or KVM is
// missing.
//
// The machine is microvm with ACPI and virtio-mmio devices only (no PCI, no
// firmware tables beyond ACPI, no default devices): the drives, the NICs
// (host taps), a virtio-rng device and a virtio-serial port named
// vmm.AgentPortName whose host end is a unix socket in the VM's runtime
// dir. The serial console goes to the spec's console log; QMP on a second
// unix socket answers status, power-down, stop/cont and quit.
//
// Choices a reader would otherwise wonder about:
//
//   - QEMU opens nothing of banger's by path (files.go): the daemon opens
//     the disk, image, kernel, config drive and console log, binds the QMP
//     and agent sockets and attaches to the tap, and hands QEMU
//     descriptors. With WithConfinement QEMU then runs as an unprivileged
//     user with no capabilities, not dumpable, under its seccomp sandbox
//     and in a cgroup of its own (confine.go); every file stays root's.
//     QEMU 7.2 has -runas and -chroot but not -run-with; -runas drops
//     privileges only after QEMU has set everything up as root, so the
//     daemon starts it as the user instead (setpriv).
//   - QEMU is the daemon's child but in its own session (setsid) and with no
//     parent-death signal, and its stderr goes to a file rather than a pipe:
//     a daemon that dies or restarts leaves its VMs running, and the next
//     daemon adopts them from the recorded handles (Attach) through the QMP
//     socket and the process identity (pid, start time, boot id).
//   - Under TCG, microvm has no HPET or ACPI PM timer, and the guest's TSC
//     calibration against the PIT hung in 5 of 12 measured boots; passing
//     the host TSC rate (tsc_early_khz, see tsc.go) made 20 of 20 boot. The
//     emulated TSC runs at the host TSC's rate, so that value is also what
//     keeps the guest clock right.
//   - Under TCG the CPU model is "max" (RDRAND: the guest's CRNG is ready at
//     once, so key generation and SSH do not stall); under KVM it is "host".
//   - -no-reboot with panic=-1 and reboot=t: a guest panic or reboot ends the
//     VMM instead of leaving a hung or rebooting machine behind.
//   - KVM is used only when /dev/kvm is a working KVM device (vmm/kvm) and
//     can really run a standard guest: a device can pass every ioctl and
//     still fail (see kvmprobe.go). Probe's note names the first step that
//     failed, so a host without /dev/kvm is not told its KVM is too weak.
//   - -kernel gets the uncompressed vmlinux when it has a PVH entry (see
//     kernel.go): under TCG that saves ~0.7 s of the boot.
//   - Shutdown presses the ACPI power button again every 2 s until QEMU
//     exits: a press before the guest listens is dropped.
//   - Shared directories (Spec.SharedDirs) are vhost-user-fs devices on
//     the sockets of virtiofsd processes the daemon started. Measured with
//     QEMU 7.2: on microvm they need modern virtio-mmio (-global
//     virtio-mmio.force-legacy=false; otherwise virtiofsd dies at the first
//     request and the guest's I/O hangs) and guest RAM in a shared memfd,
//     which the backend sets only for such VMs. Such a machine cannot be
//     migrated, so not snapshotted (vmm.Spec.SnapshotBlocker).
//
// What this asks of the guest agent (measured with QEMU 7.2 and the busybox
// test guest in testutil/guest): open the agent port once, read-write, and
// hold it open for the guest's life — on the host's hang-up a read returns
// EOF; go on reading the same descriptor for the next connection. Closing
// and reopening the port between host connections stalled about 1
// reconnect in 10 (host bytes sent while the port was closed were not
// delivered until QEMU's main loop woke for another reason); holding it
// open, 0 in 180. And listen for the power button (an evdev read on the
// ACPI button's input device, module "button" + "evdev") before answering
// on the port, then power off.
package qemu
