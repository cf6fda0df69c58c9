// Package snapshots owns boot snapshots: the saved state of a machine
// that booted to a ready agent, kept under the daemon's state directory
// so later VMs of the same shape can restore it instead of booting.
//
// A snapshot is valid only for the exact machine it was taken from, so
// it is found by its Key — the image and kernel digests, the agent, the
// backend and accelerator, CPUs, memory, the kernel arguments and the
// machine's drives and NICs — never by a name. Its ID is a digest of the
// key; a change to any part of the key (a re-pulled image, a new agent)
// simply misses.
//
// Snapshots belong to the store, not to a VM: `banger rm` of the VM that
// made one leaves it. They are written atomically: a Pending names a
// temporary directory (the caller records it before Create makes it),
// the VMM writes the files into it, and Commit hashes them into a
// manifest and renames the directory into place. A crash leaves only a
// temporary directory, which no lookup reads and gc removes. Lookup
// verifies every file against the manifest's sha256 before handing the
// snapshot out; a missing, truncated or corrupt one is removed with a
// warning and the caller boots cold.
package snapshots
