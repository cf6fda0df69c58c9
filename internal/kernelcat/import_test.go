package kernelcat

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/kernelcat/initrd"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

const release = "6.1.99-test"

func write(t *testing.T, p string, data []byte) { kctest.WriteFile(t, p, data) }

func bzImage(t *testing.T) []byte { return kctest.ZstdBzImage(t, release) }

func distroTree(t *testing.T, root, vermagic string) {
	kctest.WriteDistroTree(t, root, release, vermagic)
}

const distroConfig = kctest.DistroConfig

func agent(t *testing.T) string { return testutil.RequireBinary(t, "busybox", "busybox-static") }

func importOpts(t *testing.T, tmp string) Options {
	return Options{Agent: agent(t), Tmp: tmp, Message: func(s string) { t.Log(s) }}
}

func assertNoScratch(t *testing.T, tmp string) {
	t.Helper()
	entries, _ := os.ReadDir(tmp)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "kernel-import-") {
			t.Errorf("scratch %s left behind", e.Name())
		}
	}
}

func TestImportDistroTree(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	distroTree(t, src, release)
	dest := filepath.Join(tmp, "k")
	k, err := Import(context.Background(), src, dest, importOpts(t, tmp))
	if err != nil {
		t.Fatal(err)
	}
	assertNoScratch(t, tmp)
	if k.Name != release || k.Version != release || k.Dir != dest || k.PayloadCodec != "zstd" || !k.PVH || k.ConfigSource != "boot/config-"+release {
		t.Fatalf("record %+v", k)
	}
	if k.Check("CONFIG_VIRTIO_CONSOLE") != "missing" {
		t.Errorf("virtio_console has no module here: check = %s", k.Check("CONFIG_VIRTIO_CONSOLE"))
	}
	for _, p := range []string{k.Vmlinux, k.BzImage, k.Config, k.Initrd} {
		if !strings.HasPrefix(p, dest+"/") {
			t.Errorf("%s is outside the entry", p)
		}
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	if k.InitrdCodec != "zstd" { // no RD_LZ4 in this config
		t.Errorf("initrd codec %s", k.InitrdCodec)
	}
	var base []string
	for _, m := range k.InitrdModules {
		base = append(base, filepath.Base(m))
	}
	want := []string{"virtio_ring.ko", "virtio.ko", "virtio_blk.ko", "virtio_mmio.ko", "failover.ko", "net_failover.ko",
		"virtio_net.ko", "virtio-rng.ko", "vsock.ko", "vmw_vsock_virtio_transport_common.ko", "vmw_vsock_virtio_transport.ko"}
	if !slices.Equal(base, want) {
		t.Fatalf("initrd modules\n%v, want\n%v", base, want)
	}
	f, _ := os.Open(k.Initrd)
	defer func() { _ = f.Close() }()
	c, err := initrd.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	e, ok := c.Find("/lib/modules/" + release + "/kernel/drivers/block/virtio_blk.ko")
	if !ok || !bytes.HasPrefix(e.Data, []byte("\x7fELF")) {
		t.Fatal("virtio_blk.ko missing or still compressed in the initramfs")
	}
}

func TestImportTarballAndBareFiles(t *testing.T) {
	tmp := t.TempDir()
	tree := filepath.Join(tmp, "tree")
	distroTree(t, tree, release)

	// A .tar.gz of the tree.
	var tb bytes.Buffer
	gz := gzip.NewWriter(&tb)
	_, _ = gz.Write(kctest.TarTree(t, tree, "./"))
	_ = gz.Close()
	tarball := filepath.Join(tmp, "kernel.tar.gz")
	write(t, tarball, tb.Bytes())

	for _, tc := range []struct {
		name, src string
		opts      func(*Options)
		initrd    bool
	}{
		{"tarball", tarball, nil, true},
		// /boot/vmlinuz-<release> with /boot/config-<release> and /lib/modules/<release>.
		{"bare bzImage with sidecars", filepath.Join(tree, "boot", "vmlinuz-"+release), nil, true},
		{"bare bzImage with flags", filepath.Join(tree, "boot", "vmlinuz-"+release), func(o *Options) {
			o.Config = testutil.SpecPath(t, "firecracker-guest-kernel-x86_64-6.1.config")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := importOpts(t, tmp)
			o.Name = "k1"
			if tc.opts != nil {
				tc.opts(&o)
			}
			dest := filepath.Join(tmp, strings.ReplaceAll(tc.name, " ", "-"))
			k, err := Import(context.Background(), tc.src, dest, o)
			if err != nil {
				t.Fatal(err)
			}
			if k.Name != "k1" || k.BzImage == "" || (k.Initrd != "") != tc.initrd {
				t.Fatalf("record %+v", k)
			}
			if !tc.initrd && (k.Modules != 0 || k.AgentSHA256 != "") {
				t.Fatalf("a kernel with everything built in got an initramfs: %+v", k)
			}
		})
	}
	assertNoScratch(t, tmp)
}

// TestImportFirecrackerVmlinux: an ELF with everything built in needs no
// initramfs and no agent.
func TestImportFirecrackerVmlinux(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "vmlinux-6.1.155")
	write(t, src, kctest.ELF("6.1.155", false, nil))
	cfg, _ := os.ReadFile(testutil.SpecPath(t, "firecracker-guest-kernel-x86_64-6.1.config"))
	write(t, src+".config", cfg)
	k, err := Import(context.Background(), src, filepath.Join(tmp, "fc"), Options{Tmp: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if k.Version != "6.1.155" || k.BzImage != "" || k.Initrd != "" || k.PVH || k.ConfigSource != src+".config" {
		t.Fatalf("record %+v", k)
	}
	for _, c := range k.Checks {
		// Firecracker has no ACPI power button; it stops guests with
		// Ctrl-Alt-Del through the i8042 instead. Nor has it virtio-fs.
		if c.State != "builtin" && c.Option != "CONFIG_ACPI_BUTTON" && c.Option != "CONFIG_VIRTIO_FS" {
			t.Errorf("%s = %s in the Firecracker config", c.Option, c.State)
		}
	}
}

// TestImportEmbeddedConfig: with no config file, the IKCONFIG copy is used.
func TestImportEmbeddedConfig(t *testing.T) {
	tmp := t.TempDir()
	var gzb bytes.Buffer
	zw := gzip.NewWriter(&gzb)
	_, _ = zw.Write([]byte("CONFIG_EXT4_FS=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_VIRTIO_MMIO=y\n"))
	_ = zw.Close()
	blob := append(append([]byte("IKCFG_ST"), gzb.Bytes()...), "IKCFG_ED"...)
	src := filepath.Join(tmp, "vmlinux")
	write(t, src, kctest.ELF("6.1.7", false, blob))
	k, err := Import(context.Background(), src, filepath.Join(tmp, "e"), Options{Tmp: tmp})
	if err != nil {
		t.Fatal(err)
	}
	if k.ConfigSource != "ikconfig" || k.Check("CONFIG_VIRTIO_BLK") != "builtin" || k.Check("CONFIG_VIRTIO_NET") != "missing" {
		t.Fatalf("record %+v", k)
	}
	if b, _ := os.ReadFile(k.Config); !strings.Contains(string(b), "CONFIG_VIRTIO_MMIO=y") {
		t.Fatalf("stored config %q", b)
	}
}

func TestImportRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) (string, Options)
		kind  error
		msg   string
	}{
		{"missing essentials", func(t *testing.T, dir string) (string, Options) {
			write(t, filepath.Join(dir, "vmlinux"), kctest.ELF("6.1.1", false, nil))
			write(t, filepath.Join(dir, "config"), []byte("CONFIG_VIRTIO_NET=y\nCONFIG_EXT4_FS=n\n"))
			return filepath.Join(dir, "vmlinux"), Options{}
		}, errdefs.ErrInvalid, "missing CONFIG_EXT4_FS (ext4, the root file system), CONFIG_VIRTIO_BLK (virtio block device, the root disk), CONFIG_VIRTIO_MMIO or CONFIG_VIRTIO_PCI"},
		{"no config", func(t *testing.T, dir string) (string, Options) {
			write(t, filepath.Join(dir, "vmlinux"), kctest.ELF("6.1.1", false, nil))
			return filepath.Join(dir, "vmlinux"), Options{}
		}, errdefs.ErrInvalid, "pass --config"},
		{"modules but no tree", func(t *testing.T, dir string) (string, Options) {
			write(t, filepath.Join(dir, "bz"), bzImage(t))
			return filepath.Join(dir, "bz"), Options{Config: writeTemp(t, dir, distroConfig)}
		}, errdefs.ErrInvalid, "virtio_blk is a module and no lib/modules/" + release},
		{"modules for another kernel", func(t *testing.T, dir string) (string, Options) {
			distroTree(t, dir, "5.10.0-other")
			return dir, Options{}
		}, errdefs.ErrInvalid, "was built for kernel 5.10.0-other"},
		{"no agent", func(t *testing.T, dir string) (string, Options) {
			distroTree(t, dir, release)
			return dir, Options{Agent: ""}
		}, errdefs.ErrUnavailable, "no banger-agent"},
		{"not a kernel", func(t *testing.T, dir string) (string, Options) {
			write(t, filepath.Join(dir, "x"), []byte("hello"))
			return filepath.Join(dir, "x"), Options{}
		}, errdefs.ErrInvalid, "is not a kernel"},
		{"empty dir", func(_ *testing.T, dir string) (string, Options) { return dir, Options{} }, errdefs.ErrInvalid, "no kernel found"},
		{"kernel behind an escaping symlink", func(t *testing.T, dir string) (string, Options) {
			outside := t.TempDir()
			write(t, filepath.Join(outside, "vmlinuz-6.1.1"), bzImage(t))
			if err := os.Symlink(outside, filepath.Join(dir, "boot")); err != nil {
				t.Fatal(err)
			}
			return dir, Options{}
		}, errdefs.ErrInvalid, "no kernel found"},
		{"bad name", func(t *testing.T, dir string) (string, Options) {
			distroTree(t, dir, release)
			return dir, Options{Name: "../etc"}
		}, errdefs.ErrInvalid, "kernel name"},
		{"missing source", func(_ *testing.T, dir string) (string, Options) { return filepath.Join(dir, "nope"), Options{} }, errdefs.ErrNotFound, "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			src, o := tc.setup(t, t.TempDir())
			if o.Agent == "" && tc.name != "no agent" {
				o.Agent = agent(t)
			}
			o.Tmp = tmp
			dest := filepath.Join(tmp, "dest")
			_, err := Import(context.Background(), src, dest, o)
			if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v\nwant %v containing %q", err, tc.kind, tc.msg)
			}
			if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Fatal("a refused import left its destination")
			}
			assertNoScratch(t, tmp)
		})
	}
}

func TestImportRefusesExistingDest(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	distroTree(t, src, release)
	dest := filepath.Join(tmp, "k")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), src, dest, importOpts(t, tmp)); !errors.Is(err, errdefs.ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}
}

func writeTemp(t *testing.T, dir, content string) string {
	p := filepath.Join(dir, "cfg-"+strings.ReplaceAll(t.Name(), "/", "_"))
	write(t, p, []byte(content))
	return p
}

func TestEnsureInitrdRebuildsForNewAgent(t *testing.T) {
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	distroTree(t, src, release)
	k, err := Import(context.Background(), src, filepath.Join(tmp, "k"), importOpts(t, tmp))
	if err != nil {
		t.Fatal(err)
	}
	changed, err := EnsureInitrd(&k, agent(t))
	if err != nil || changed {
		t.Fatalf("same agent: changed=%v err=%v", changed, err)
	}
	newAgent := filepath.Join(tmp, "agent2")
	write(t, newAgent, []byte("#!/bin/sh\necho a newer agent\n"))
	oldSum, oldModules, oldGroup := k.AgentSHA256, k.InitrdModules, k.InitrdOnDemand["virtiofs"]
	if len(oldGroup) != 2 {
		t.Fatalf("virtio-fs group %v", k.InitrdOnDemand)
	}
	changed, err = EnsureInitrd(&k, newAgent)
	if err != nil || !changed || k.AgentSHA256 == oldSum || !slices.Equal(k.InitrdModules, oldModules) || !slices.Equal(k.InitrdOnDemand["virtiofs"], oldGroup) {
		t.Fatalf("new agent: changed=%v err=%v record=%+v", changed, err, k)
	}
	f, _ := os.Open(k.Initrd)
	defer func() { _ = f.Close() }()
	c, err := initrd.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := c.Find("/init"); !ok || string(e.Data) != "#!/bin/sh\necho a newer agent\n" {
		t.Fatal("/init is not the new agent")
	}
	if len(c.Manifest.Modules)+len(c.Manifest.OnDemand["virtiofs"]) != k.Modules || !slices.Equal(c.Manifest.OnDemand["virtiofs"], oldGroup) {
		t.Fatalf("rebuilt manifest lists %d modules and %v, record %d", len(c.Manifest.Modules), c.Manifest.OnDemand, k.Modules)
	}
}
