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
//     migrated, so not snapshotted (vmm.Spec.SnapshotBlocker): Save
//     refuses it (the tags are in its handles) before asking QEMU.
//   - Guest RAM is always the memory backend "mem" (anonymous, a file or
//     the memfd above): migration matches RAM by that name, so a snapshot
//     of any machine loads into any other.
//   - Save and restore (snapshot.go, migrate.go) are QEMU migration to and
//     from a file: QMP migrate on a paused machine, restore by -incoming
//     defer + migrate-incoming, then cont. QEMU 7.2 has no file: URI, and
//     exec: runs a shell, which the confined QEMU's sandbox forbids
//     (spawn=deny) and which would open banger's files by path; so the
//     daemon opens the state file and QEMU gets a descriptor (getfd over
//     QMP to save, an inherited one to restore, URI fd:). The state file is
//     written to a temporary name, synced and renamed. A bad state file
//     ends the restoring QEMU ("load of migration failed"), which Restore
//     reports with QEMU's message in ~0.1–0.2 s. A saved machine can go
//     on (cont): a checkpoint. That needs writable drives without QEMU's
//     image lock (file.locking=off): QEMU 7.2 re-takes it after a save
//     through the drive's two descriptors and conflicts with itself.
//   - Where RAM goes, measured under TCG (256 MiB guest, a busybox shell
//     on the agent port, 2 cores shared; medians of 10 restores and 5
//     saves, TestSnapshotRestore): in the state file, save 0.48 s, a
//     64 MiB state file, Restore returns in 0.13 s and the first exec
//     answers 0.42 s after Restore was called, 118 MiB private dirty per
//     restored QEMU. In a memory file (Spec.MemoryFile, shared, with
//     x-ignore-shared, copied sparse to the snapshot's MemPath): save
//     0.13 s with the copy, a 65 KiB state file plus a 256 MiB sparse
//     memory file (92 MiB allocated), Restore 0.06 s, first exec 0.25 s,
//     31 MiB private dirty per restored QEMU, the rest page cache shared
//     by every restore (Pss 50–66 MiB). A cold boot to the first exec
//     took 3.5 s. So boot snapshots, restored many times, should keep RAM
//     in a memory file, mapped copy-on-write (share=off: the file never
//     changes); RAM in the state file needs nothing at boot and suits
//     one-off saves and confined QEMUs, which cannot map a memory file
//     (QEMU 7.2 opens it by path, read-write).
//   - A restored guest's clock is the snapshot's until something sets it;
//     its agent port gets a new host socket: the guest reads EOF (no host),
//     then the next host connection.
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
