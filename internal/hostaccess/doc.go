// Package hostaccess is the rule that makes a host path in a request a
// privilege boundary: the daemon runs as root, so a host path a client
// names (a shared directory, a directory copied into an image, a stdio
// file, a kernel to import) is opened only if the caller could open it
// themselves.
//
// # The rule
//
//   - uid 0 may name any path.
//   - Anyone else needs, on the object itself, the access the request asks
//     for — read for `-v SRC:DST:ro`, read and write for `-v SRC:DST` —
//     and search (x) on every directory on the way to it, symlink targets
//     included. A directory needs search on itself too, since the guest
//     looks names up in it.
//   - A directory whose whole tree is served (a shared directory, whose
//     virtiofsd runs as root, or a directory copied into an image) must be
//     the caller's own: read access to /etc would otherwise give the guest
//     /etc/shadow, which the caller cannot read, and a world-writable
//     /tmp every other user's files. The owner of a directory decides what
//     is in it; what root put under a user's directory is root's choice.
//   - A request without peer credentials (it did not come over a unix
//     socket, so the daemon cannot tell who asked) is no caller at all
//     (Unknown): it may name no host path.
//
// # Checked by the kernel, as the caller
//
// The check is not a re-implementation of the kernel's permission rules
// (mode bits, POSIX ACLs, LSMs, read-only mounts): the daemon asks the
// kernel. On a goroutine locked to its OS thread, it sets that thread's
// file-system uid and gid and its supplementary groups to the caller's
// (setfsuid, setfsgid and setgroups act on one thread; changing the
// fsuid away from 0 drops the thread's file capabilities, so
// CAP_DAC_OVERRIDE no longer applies), opens the path with O_PATH and
// asks faccessat2(AT_EACCESS) on what it opened. Then it switches back. A
// thread that cannot be switched back is never handed back to the Go
// scheduler: its goroutine ends still locked, and the runtime ends the
// thread.
//
// The caller's groups are the ones the kernel recorded when the caller
// connected (SO_PEERGROUPS, next to SO_PEERCRED's uid and gid; see
// api.Peer), not /proc/PID/status (the pid may have exited and been
// reused by the time it is read) nor the user database (it says which
// groups a user gets at login, not which the process has: after `newgrp`,
// `sg`, or a group removed from a running session they differ, and the
// kernel checks the process's).
//
// # Check once, then never follow a symlink again
//
// A path is checked when the request arrives (Check): what is
// recorded is the path the kernel resolved for the caller, read back from
// /proc/self/fd of the opened object, so it holds no symlink. Each later
// use (a VM's start, every restart) opens that resolved path again as
// the same caller (Open) with openat2(RESOLVE_NO_SYMLINKS): a component
// swapped for a symlink after the check makes the open fail instead of
// following it, and a permission changed since is checked again. What is
// then used is the opened object itself, never the name: a shared
// directory is bind-mounted from /proc/self/fd/N into virtiofsd's own
// mount namespace, so a rename after the open cannot swap what is served.
package hostaccess
