package kctest

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
)

// DistroConfig has its drivers as modules, like Debian's cloud kernel, and
// no CONFIG_VIRTIO_PCI.
const DistroConfig = `CONFIG_EXT4_FS=y
CONFIG_VIRTIO_BLK=m
CONFIG_VIRTIO_MMIO=m
# CONFIG_VIRTIO_PCI is not set
CONFIG_VIRTIO_NET=m
CONFIG_VIRTIO_CONSOLE=m
CONFIG_HW_RANDOM_VIRTIO=m
CONFIG_VSOCKETS=m
CONFIG_VIRTIO_VSOCKETS=m
CONFIG_DEVTMPFS=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_ACPI=y
CONFIG_FUSE_FS=m
CONFIG_VIRTIO_FS=m
CONFIG_MODULES=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_RD_ZSTD=y
`

// BuiltinConfig has everything banger needs built in, like Firecracker's.
const BuiltinConfig = `CONFIG_EXT4_FS=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_MMIO=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_CONSOLE=y
CONFIG_HW_RANDOM_VIRTIO=y
CONFIG_VSOCKETS=y
CONFIG_VIRTIO_VSOCKETS=y
CONFIG_DEVTMPFS=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_ACPI=y
# CONFIG_MODULES is not set
`

// DistroModules maps module paths (under lib/modules/<release>) to their
// depends=, as measured in Debian's 6.1 cloud kernel. virtio_console is
// left out, to exercise a missing optional module.
var DistroModules = map[string]string{
	"kernel/drivers/block/virtio_blk.ko.zst":                        "virtio,virtio_ring",
	"kernel/drivers/virtio/virtio.ko.zst":                           "virtio_ring",
	"kernel/drivers/virtio/virtio_ring.ko.zst":                      "",
	"kernel/drivers/virtio/virtio_mmio.ko.zst":                      "virtio,virtio_ring",
	"kernel/drivers/net/virtio_net.ko.zst":                          "virtio_ring,virtio,net_failover",
	"kernel/drivers/net/net_failover.ko.zst":                        "failover",
	"kernel/net/core/failover.ko.zst":                               "",
	"kernel/drivers/char/hw_random/virtio-rng.ko.zst":               "virtio,virtio_ring",
	"kernel/net/vmw_vsock/vsock.ko.zst":                             "",
	"kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko.zst":        "virtio,vmw_vsock_virtio_transport_common,virtio_ring,vsock",
	"kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko.zst": "vsock",
	"kernel/fs/fuse/fuse.ko.zst":                                    "",
	"kernel/fs/fuse/virtiofs.ko.zst":                                "fuse,virtio,virtio_ring",
	"kernel/fs/unrelated.ko.zst":                                    "",
}

// WriteFile writes data at p, creating its directory.
func WriteFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Zstd compresses data.
func Zstd(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := compress.NewWriter(compress.Zstd, &b)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ZstdBzImage is a bzImage with a zstd payload, as a kernel built with
// CONFIG_KERNEL_ZSTD, whose vmlinux has a PVH note.
func ZstdBzImage(t testing.TB, release string) []byte {
	elf := ELF(release, true, nil)
	payload := binary.LittleEndian.AppendUint32(Zstd(t, elf), uint32(len(elf))) //nolint:gosec // small
	return BzImage(payload, 0x020f, release)
}

// WriteDistroTree lays out boot/vmlinuz-<release>, boot/config-<release>
// (DistroConfig) and lib/modules/<release>/ (DistroModules, zstd
// compressed, built for vermagic) under root.
func WriteDistroTree(t testing.TB, root, release, vermagic string) {
	t.Helper()
	WriteFile(t, filepath.Join(root, "boot", "vmlinuz-"+release), ZstdBzImage(t, release))
	WriteFile(t, filepath.Join(root, "boot", "config-"+release), []byte(DistroConfig))
	for rel, deps := range DistroModules {
		WriteFile(t, filepath.Join(root, "lib/modules", release, rel), Zstd(t, Module("depends="+deps, "vermagic="+vermagic+" SMP mod_unload")))
	}
}
