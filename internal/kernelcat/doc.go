// Package kernelcat is banger's kernel catalog: it turns what users have —
// a Firecracker guest vmlinux, their distribution's bzImage whose virtio
// drivers are modules, a kernel .deb, a tarball or directory holding
// boot/ and lib/modules/ — into a catalog entry a VM can boot with no
// further work, and refuses, before any VM starts, a kernel that cannot
// boot banger's guests.
//
// An entry is a directory (paths.Layout.Kernel(name)) holding:
//
//	vmlinux      the ELF kernel (what Firecracker boots; extracted from a bzImage)
//	bzImage      the original compressed kernel, when there was one (QEMU boots it)
//	config       the kernel config the checks were made against
//	initrd.img   the initramfs banger built, when needed drivers are modules
//	modules/     the decompressed modules in it, kept to rebuild it for a new agent
//
// and a Kernel record saying all of that, so starting a VM is reading
// the record. The pieces live in subpackages: kconfig (config parsing),
// kimage (bzImage payload extraction), kmod (module tree and dependency
// closure), initrd (the initramfs contract), cpio, compress, archive
// (hardened tar and .deb extraction) and fetch (verified downloads).
package kernelcat
