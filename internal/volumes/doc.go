// Package volumes is what a VM mounts besides its image, and the host
// side of each kind:
//
//   - a shared directory (`run -v /host/dir:/guest/dir[:ro]`, TypeBind):
//     live both ways, through virtio-fs; one virtiofsd per VM per
//     directory (StartShare), which the volumes stage of the VM service
//     records and starts before the VMM connects to it;
//   - a named volume (`banger volume create`, `-v NAME:/guest/dir`,
//     TypeVolume): a sparse ext4 file under the daemon's state directory
//     (Service), attached as a drive, kept until `volume rm`, held by one
//     running VM at a time;
//   - a directory's image (`--mount type=image,source=DIR,target=/guest`,
//     TypeImage): DIR copied into an ext4 drive with its owners
//     (BuildImage), made at the VM's first start and kept until rm. It is
//     what a VMM without virtio-fs (Firecracker) offers instead of -v.
//
// Mount and its parsers (ParseVolumeFlag, ParseMountFlag, Check) are the
// spec as the user gives it, checked before anything touches the host.
//
// # Why virtio-fs, and not 9p
//
// The choice was to be made by measuring both. 9p cannot run on the
// guests banger boots: Debian's cloud kernel (linux-image-6.1.0-57-cloud-
// amd64, the kernel the tests and the benchmarks import) is built with
// "# CONFIG_NET_9P is not set", and its package holds no 9p module (no
// 9p.ko, no 9pnet.ko), so the guest cannot mount the virtio-9p-device
// QEMU 7.2 offers; the measurement was skipped. The same kernel has
// CONFIG_FUSE_FS=m and CONFIG_VIRTIO_FS=m, so virtio-fs is the one
// that works; it is also the one built for this (a FUSE file system over
// virtio queues, with the guest's page cache, mmap and owners), where 9p
// is known for slow metadata and stale caches.
//
// Measured here (`make bench-volume`, QEMU 7.2 TCG microvm, 200 MiB
// timed in the guest, fsync/syncfs included, the guest's page cache
// dropped before reading; medians of 3 rounds on a shared 2-core host
// whose load moved single rounds by up to 3x):
//
//	                      -v (virtio-fs)   guest disk (virtio-blk)   volume/disk
//	1 x 200 MiB    write     59.9 MiB/s        42.8 MiB/s            1.40x
//	1 x 200 MiB    read      51.7 MiB/s        72.8 MiB/s            0.71x
//	2000 x 100 KiB write      6.0 MiB/s        13.5 MiB/s            0.44x
//	2000 x 100 KiB read      11.2 MiB/s        14.3 MiB/s            0.78x
//
// Large files move about as fast as on the guest's own disk; many small
// files are slower, since every create and open is a round trip to
// virtiofsd. Data that needs small-file speed and not the host's view
// belongs in a named volume, which is a disk.
//
// # How a shared directory is served
//
//   - QEMU's C virtiofsd (Debian: /usr/lib/qemu/virtiofsd), sandboxed in
//     its own mount, pid and net namespaces with the directory as its
//     root, so a guest cannot reach past it; cache=auto (close-to-open:
//     a host write is seen at the guest's next open, mmap works).
//   - Owners pass through: the guest sees the host's uids and gids, and
//     a file the guest's user 1000 creates is the host's uid 1000 — as a
//     docker bind mount. No root:root surprise, and no id mapping to
//     configure.
//   - The virtiofsd runs in a mount namespace of its own in which the
//     directory, opened as the client that named it (package hostaccess:
//     the client's access checked again, no symlink followed), is
//     bind-mounted from its open file onto an empty directory next to the
//     socket, which virtiofsd serves (startServed): what the guest sees is
//     the directory that was checked, whatever is renamed or swapped on
//     the host after. The host's own mounts never change.
//   - :ro is enforced by the host, not only by the guest's mount: in that
//     namespace the bind mount is read-only, so a guest that remounts it
//     read-write still cannot write.
//   - Every virtiofsd carries the VM's id (vmm.EnvVMID) and EnvRole in its
//     environment, so the inventory and gc find it, and a stop that finds
//     one no record names (StopSharesOf) ends it.
//   - The VMM side needs shared guest memory (a memfd) and modern
//     virtio-mmio; see vmm/qemu. A VM with a vhost-user-fs device cannot
//     be migrated, so it cannot be snapshotted, paused to a file or
//     forked (vmm.Spec.SnapshotBlocker); named volumes and images are
//     drives, which can.
//   - The guest's FUSE and virtio-fs modules are an on-demand group of the
//     kernel catalog's initramfs, loaded only by VMs that share
//     directories: loading them took 0.25 s per boot under TCG here.
package volumes
