package kernelcat

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/store/storetest"
)

// The store keeps Kernel records as JSON. The testdata/records files were
// written by the type this one replaced (api.Kernel): they must decode with
// no field lost and encode back byte for byte, or existing databases break.
func TestKernelRecordKeepsItsStoredShape(t *testing.T) {
	created := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	dir := "/var/lib/banger/kernels/debian-cloud"
	for _, tc := range []struct {
		file string
		want Kernel
	}{
		{"kernel-v0-empty.json", Kernel{}},
		{"kernel-v0.json", Kernel{
			Name: "debian-cloud", Version: "6.1.0-56-cloud-amd64", Arch: "x86_64", Dir: dir,
			Vmlinux: dir + "/vmlinux", VmlinuxSHA256: "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", PVH: true,
			BzImage: dir + "/bzImage", PayloadCodec: "zstd",
			Config: dir + "/config", ConfigSource: "boot/config-6.1.0-56-cloud-amd64",
			Initrd: dir + "/initrd.img", InitrdCodec: "zstd",
			InitrdModules: []string{"/lib/modules/6.1.0-56-cloud-amd64/kernel/drivers/block/virtio_blk.ko"},
			AgentSHA256:   "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Modules: 1,
			Checks: []Check{
				{Option: "CONFIG_VIRTIO_BLK", State: "module", Essential: true, Need: "virtio block device, the root disk", Module: "virtio_blk"},
				{Option: "CONFIG_VIRTIO_NET", State: "missing", Need: "virtio network device"},
			},
			Default: true, Source: "pull:debian-cloud", SizeBytes: 98765432, Created: created,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			storetest.KeepsShape(t, filepath.Join("testdata", "records", tc.file), tc.want)
		})
	}
}
