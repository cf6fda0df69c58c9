// Package agent is banger-agent, the guest side of banger: PID 1 in every
// VM (and the initramfs /init when the kernel needs modules).
//
// It has three roles, chosen by Main from how it was started:
//
//   - stage 1 (PID 1 in an initramfs that holds /.banger/initrd.json):
//     load modules, mount the root device, switch_root into stage 2
//     (package stage1);
//   - stage 2 (PID 1 in the image root, as /.banger/agent): mount the API
//     file systems, configure hostname, network, resolv.conf and entropy,
//     grow the root file system, then run the Service — or hand PID 1 to
//     the image's own init and keep serving as its child. A held boot
//     (bootcfg.Config.Hold, the one boot snapshots are saved from) does
//     none of that until the host's apply (hold.go, steps.go);
//   - serve (any other process): only the Service, on a listener given on
//     the command line — for tests, development and the --init child.
//
// The Service owns the main process (package mainproc), the SSH server
// (package sshd) and the decision when the VM ends. Privileged steps are
// built as plans (packages initplan, netplan, stage1) and executed at a
// thin edge.
package agent
