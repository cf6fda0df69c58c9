// Package rootfs owns each VM's writable root disk. The image's ext4 stays
// read-only and shared; a VM gets its own disk by the best strategy the host
// offers, tried in this order by Choose:
//
//   - dm-snapshot (package dmsnap): a persistent device-mapper snapshot
//     over a loop of the image, with a sparse copy-on-write file. Creation
//     is instant and only written blocks cost space. The default with
//     Firecracker where /dev/mapper/control exists; its devices are
//     runtime objects (Activate at start, Deactivate at stop), the COW
//     file is the VM's data.
//   - reflink: a FICLONE of the image in the data directory (XFS, btrfs,
//     bcachefs): instant, shares blocks until written, a plain raw file
//     every VMM takes.
//   - qcow2: a qcow2 overlay with the image as its raw backing file
//     (`qemu-img create -f qcow2 -F raw -b`). Instant on any file system,
//     but only QEMU reads it.
//   - copy: a sparse copy (SEEK_DATA/SEEK_HOLE), the last resort: it costs
//     the image's used bytes in time and space.
//
// Growing (--disk SIZE): the disk is a raw file (reflink or copy), enlarged
// and its file system resized offline before boot (e2fsck -fy, resize2fs),
// in well under a second. qcow2 and dm-snapshot disks cannot grow banger's
// images: the host cannot resize a file system inside a qcow2 without a
// block device, and the images' ext4 has sparse_super2, which the kernel
// cannot resize online (measured: EXT4_IOC_RESIZE_FS answers "Online
// resizing not supported with sparse_super2"). Choose therefore picks a raw
// strategy when a larger disk is asked for.
//
// Checkpoints and forks: Manager.Clone makes a point-in-time copy of a
// paused VM's disk for every strategy (the raw file, the qcow2 overlay
// with its backing image, the dm-snapshot COW file), by FICLONE where the
// file system has it, else sparse; a fork's disk is a clone of that copy.
//
// Commits: Manager.RawCopy writes what any strategy's disk holds as a
// plain raw ext4 file (a clone of the raw file, qemu-img convert of the
// overlay, a sparse read of the snapshot device) and replays its journal,
// so internal/layerdiff can mount it read-only without recovery.
//
// Every external command is built as a value (argv) by a pure function and
// run through a small runner, so tests assert the exact command lines.
package rootfs
