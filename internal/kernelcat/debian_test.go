package kernelcat

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/kernelcat/initrd"
	"github.com/bangerdev/banger/internal/kernelcat/kimage"
	"github.com/bangerdev/banger/internal/kernelcat/kmod"
	"github.com/bangerdev/banger/internal/testutil"
)

// debianRelease reads the release from the package's file name
// (linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb).
func debianRelease(deb string) string {
	s := strings.TrimPrefix(filepath.Base(deb), "linux-image-")
	rel, _, _ := strings.Cut(s, "_")
	return rel
}

// TestImportDebianCloudKernel imports the real Debian cloud kernel .deb,
// whose virtio drivers are modules and which ships without modules.dep.
func TestImportDebianCloudKernel(t *testing.T) {
	testutil.RequireRoot(t)
	deb := testutil.DebianKernelDebs(t)
	// The stand-in for banger-agent as /init: a static program that loads
	// the manifest's modules and looks for the disk (testdata/bootcheck).
	agent := testutil.BuildBinary(t, "./internal/kernelcat/testdata/bootcheck")
	release := debianRelease(deb)
	dir := t.TempDir()
	var msgs []string
	k, err := Import(context.Background(), deb, filepath.Join(dir, "debian"), Options{
		Name: "debian", Agent: agent, Tmp: dir,
		Message: func(s string) { msgs = append(msgs, s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("messages: %q", msgs)
	if k.Version != release || k.Name != "debian" || k.PayloadCodec == "" || !k.PVH {
		t.Fatalf("record = %+v", k)
	}
	if err := kimage.CheckELF(k.Vmlinux); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(k.BzImage); err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{"CONFIG_VIRTIO_BLK": "module", "CONFIG_EXT4_FS": "builtin", "CONFIG_VIRTIO_NET": "module", "CONFIG_DEVTMPFS": "builtin"} {
		if got := k.Check(opt); got != want {
			t.Errorf("%s = %s, want %s", opt, got, want)
		}
	}

	f, err := os.Open(k.Initrd)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	c, err := initrd.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.Codec) != k.InitrdCodec || !slices.Equal(c.Manifest.Modules, k.InitrdModules) || c.Manifest.KernelRelease != release {
		t.Fatalf("initrd manifest %+v vs record %v (%s)", c.Manifest, k.InitrdModules, k.InitrdCodec)
	}
	want, _ := os.ReadFile(agent)
	if e, ok := c.Find("/init"); !ok || !bytes.Equal(e.Data, want) || e.Header.FileMode() != 0o755 {
		t.Fatal("/init is not the agent binary, byte for byte, mode 0755")
	}
	// Exactly the needed modules and their closure; nothing built in.
	// virtio-fs's (and overlayfs, for a pod VM's containers) are a group
	// of their own, loaded after the others by the VMs that share
	// directories.
	group := c.Manifest.OnDemand[bootcfg.ModulesVirtioFS]
	if !slices.Equal(k.InitrdOnDemand[bootcfg.ModulesVirtioFS], group) || len(group) != 3 || path.Base(group[0]) != "fuse.ko" || path.Base(group[1]) != "virtiofs.ko" || path.Base(group[2]) != "overlay.ko" {
		t.Fatalf("virtio-fs group %v (record %v)", group, k.InitrdOnDemand)
	}
	var names []string
	pos := map[string]int{}
	for i, p := range append(slices.Clone(c.Manifest.Modules), group...) {
		if !strings.HasPrefix(p, "/lib/modules/"+release+"/kernel/") || !strings.HasSuffix(p, ".ko") {
			t.Errorf("module path %s", p)
		}
		n := kmod.Normalize(strings.TrimSuffix(path.Base(p), ".ko"))
		names = append(names, n)
		pos[n] = i
	}
	slices.Sort(names)
	wantSet := []string{"button", "evdev", "failover", "fuse", "net_failover", "overlay", "virtio", "virtio_blk", "virtio_console", "virtio_mmio", "virtio_net",
		"virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring", "virtio_rng",
		"virtiofs", "vmw_vsock_virtio_transport", "vmw_vsock_virtio_transport_common", "vsock"}
	if !slices.Equal(names, wantSet) {
		t.Fatalf("initrd modules %v, want %v", names, wantSet)
	}
	for _, pair := range [][2]string{{"virtio", "virtio_blk"}, {"virtio_ring", "virtio_blk"}, {"failover", "net_failover"}, {"net_failover", "virtio_net"}, {"vsock", "vmw_vsock_virtio_transport"}, {"fuse", "virtiofs"}} {
		if pos[pair[0]] >= pos[pair[1]] {
			t.Errorf("%s loads after %s", pair[0], pair[1])
		}
	}
	// Every module's own depends= is loaded before it, and each is the
	// decompressed ELF from the package.
	for _, p := range append(slices.Clone(c.Manifest.Modules), group...) {
		e, ok := c.Find(p)
		if !ok {
			t.Fatalf("%s listed but not in the archive", p)
		}
		mi, err := kmod.ReadModinfo(bytes.NewReader(e.Data))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		self := kmod.Normalize(strings.TrimSuffix(path.Base(p), ".ko"))
		for _, d := range mi.Depends() {
			if pos[d] >= pos[self] {
				t.Errorf("%s depends on %s, which loads later", self, d)
			}
		}
		if vm, _, _ := strings.Cut(mi.Get("vermagic"), " "); vm != release {
			t.Errorf("%s vermagic %q", p, vm)
		}
	}
	if k.Modules != len(wantSet) || k.AgentSHA256 == "" {
		t.Errorf("Modules=%d AgentSHA256=%q", k.Modules, k.AgentSHA256)
	}

	t.Run("boots under QEMU", func(t *testing.T) {
		out := bootCheck(t, k)
		want := fmt.Sprintf("BOOTCHECK loaded %d/%d modules", k.Modules, k.Modules)
		if !strings.Contains(out, want) || !strings.Contains(out, "BOOTCHECK /dev/vda present") {
			t.Fatalf("the guest did not load every module and find /dev/vda (want %q):\n%s", want, out)
		}
	})
}
