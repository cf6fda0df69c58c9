// Package containershim is banger's containerd runtime shim v2
// (io.containerd.banger.v2, the binary containerd-shim-banger-v2): it
// serves containerd's task API (v3, over ttrpc) and runs each container
// task outside CRI as one banger VM, and each CRI pod as one VM with its
// containers inside, as a client of the daemon's API — it implements
// nothing of a VM's life itself.
//
// The pieces:
//
//   - Manager is the shim binary's life, as containerd's shim package
//     drives it: `start` spawns the long-running server and answers the
//     bootstrap result; `delete` (run by containerd after a shim died)
//     removes the task's VM from its name alone.
//   - Service is the task API: Create reads the bundle's config.json
//     (spec.go), makes the root file system a banger image (rootfs.go: the
//     snapshotter's mounts streamed as a tar to the daemon's import, or the
//     CRI image pulled by name) and records the VM; Start attaches to the
//     main process, boots the VM and copies between the attachment and
//     the FIFOs containerd gives (stdio.go); the exit is read from the
//     attachment, and events go out in order (events.go).
//   - An exec is a process started in the task's VM over a session of
//     the daemon's (exec.go); it and a pod container's main process are
//     one sessionProc (session.go).
//   - A CRI pod's sandbox task is the pod's VM, with a pod share
//     (sandbox.go); each container of the pod is a root in that VM whose
//     process runs there over a session (pod.go). A pod off the host's
//     network has its VM attached to the pod's network namespace
//     (podnet.go).
//   - Daemon is everything Service asks of banger's daemon, a small
//     interface (daemon.go) that tests replace with a fake.
//
// A VM is named from the containerd namespace and the container id — the
// sandbox's id for a pod's VM — (VMName), so the delete action of a dead
// shim finds it again.
package containershim
