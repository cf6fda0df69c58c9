package initrd

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/cpio"
	"github.com/bangerdev/banger/internal/kernelcat/kconfig"
	"github.com/bangerdev/banger/internal/testutil"
)

func mod(rel, content string) Module {
	return Module{Rel: rel, Open: func() (io.ReadCloser, int64, error) {
		return io.NopCloser(strings.NewReader(content)), int64(len(content)), nil
	}}
}

func TestBuildAndReadBack(t *testing.T) {
	// busybox stands in for banger-agent with the codec Choose prefers; a
	// small file keeps the slower codecs' runs short.
	busybox := testutil.RequireBinary(t, "busybox", "busybox-static")
	small := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(small, bytes.Repeat([]byte("agent\x00\x01"), 8<<10), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, codec := range []compress.Codec{compress.LZ4, compress.Zstd, compress.Gzip, compress.XZ, compress.None} {
		t.Run(string(codec), func(t *testing.T) {
			agent := small
			if codec == compress.LZ4 {
				agent = busybox
			}
			want, err := os.ReadFile(agent)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			m, err := Build(&b, Spec{
				Release: "6.1.0-test", Agent: agent, Codec: codec,
				Modules: []Module{
					mod("kernel/drivers/virtio/virtio_ring.ko", "ring"),
					mod("kernel/drivers/virtio/virtio.ko", "virtio"),
					mod("kernel/drivers/block/virtio_blk.ko", "blk"),
				},
				OnDemand: map[string][]Module{"virtiofs": {mod("kernel/fs/fuse/fuse.ko", "fuse"), mod("kernel/fs/fuse/virtiofs.ko", "vfs")}},
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := Read(&b)
			if err != nil {
				t.Fatal(err)
			}
			if c.Codec != codec {
				t.Errorf("codec %s, want %s", c.Codec, codec)
			}
			order := []string{
				"/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio_ring.ko",
				"/lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko",
				"/lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko",
			}
			if strings.Join(c.Manifest.Modules, ",") != strings.Join(order, ",") || strings.Join(m.Modules, ",") != strings.Join(order, ",") {
				t.Fatalf("manifest modules %v", c.Manifest.Modules)
			}
			if c.Manifest.Version != 1 || c.Manifest.KernelRelease != "6.1.0-test" {
				t.Fatalf("manifest %+v", c.Manifest)
			}
			// An on-demand group is in the archive, listed apart.
			group := []string{"/lib/modules/6.1.0-test/kernel/fs/fuse/fuse.ko", "/lib/modules/6.1.0-test/kernel/fs/fuse/virtiofs.ko"}
			if !slices.Equal(c.Manifest.OnDemand["virtiofs"], group) || len(c.Manifest.OnDemand) != 1 {
				t.Fatalf("on-demand groups %v", c.Manifest.OnDemand)
			}
			if e, ok := c.Find(group[1]); !ok || string(e.Data) != "vfs" {
				t.Fatal("virtiofs.ko missing or wrong")
			}
			init, ok := c.Find("/init")
			if !ok || !bytes.Equal(init.Data, want) || init.Header.FileMode() != 0o755 {
				t.Fatalf("/init is not the agent, byte for byte, mode 0755")
			}
			if e, ok := c.Find(order[2]); !ok || string(e.Data) != "blk" {
				t.Fatal("virtio_blk.ko missing or wrong")
			}
			if e, ok := c.Find("/dev/console"); !ok || e.Header.Type() != cpio.TypeChar || e.Header.DevMajor != 5 || e.Header.DevMinor != 1 {
				t.Fatal("/dev/console missing")
			}
			for _, d := range []string{"/proc", "/sys", "/run", "/tmp", "/lib/modules/6.1.0-test/kernel/drivers/block", "/.banger"} {
				if e, ok := c.Find(d); !ok || e.Header.Type() != cpio.TypeDir {
					t.Errorf("directory %s missing", d)
				}
			}
			var files int
			for _, e := range c.Entries {
				if e.Header.Type() == cpio.TypeReg {
					files++
				}
			}
			if files != 7 { // init, three modules and two on demand, the manifest
				t.Errorf("%d regular files, want exactly 7", files)
			}
		})
	}
}

func TestBuildIsReproducible(t *testing.T) {
	agent := testutil.RequireBinary(t, "busybox", "busybox-static")
	build := func() []byte {
		var b bytes.Buffer
		if _, err := Build(&b, Spec{Release: "r", Agent: agent, Codec: compress.Zstd, Modules: []Module{mod("a.ko", "a")}}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	if !bytes.Equal(build(), build()) {
		t.Fatal("two builds of the same spec differ")
	}
}

func TestBuildRefusesBadModulePaths(t *testing.T) {
	agent := testutil.RequireBinary(t, "busybox", "busybox-static")
	for _, rel := range []string{"../../init.ko", "kernel/x.ko.xz"} {
		if _, err := Build(io.Discard, Spec{Release: "r", Agent: agent, Codec: compress.None, Modules: []Module{mod(rel, "x")}}); err == nil {
			t.Errorf("module %q accepted", rel)
		}
	}
	if _, err := Build(io.Discard, Spec{Release: "r", Agent: "/nonexistent/agent"}); err == nil {
		t.Error("missing agent accepted")
	}
}

func TestChoose(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   compress.Codec
		fail   bool
	}{
		{"CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\nCONFIG_RD_LZ4=y\nCONFIG_RD_XZ=y\n", compress.LZ4, false},
		{"CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\nCONFIG_RD_ZSTD=y\n", compress.Zstd, false},
		{"CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_GZIP=y\n", compress.Gzip, false},
		{"CONFIG_BLK_DEV_INITRD=y\nCONFIG_RD_XZ=y\nCONFIG_RD_BZIP2=y\n", compress.XZ, false},
		{"CONFIG_BLK_DEV_INITRD=y\n", compress.None, false},
		{"CONFIG_RD_GZIP=y\n", "", true},
	} {
		cfg, _ := kconfig.Parse(strings.NewReader(tc.config))
		got, err := Choose(cfg)
		if (err != nil) != tc.fail || got != tc.want {
			t.Errorf("Choose(%q) = %s, %v; want %s", tc.config, got, err, tc.want)
		}
	}
}
