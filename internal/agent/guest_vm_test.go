package agent_test

// The parts of a real guest for this package's VM tests: the Debian
// kernel, the agent as stage 1 and in a busybox root, keys and a config
// drive.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/testutil"
)

// The modules the Debian cloud kernel needs for this test's microvm, in
// load order (the kernel catalog builds the real list).
var vmModules = []string{
	"kernel/drivers/virtio/virtio_ring.ko",
	"kernel/drivers/virtio/virtio.ko",
	"kernel/drivers/virtio/virtio_mmio.ko",
	"kernel/drivers/block/virtio_blk.ko",
	"kernel/drivers/char/virtio_console.ko",
	"kernel/drivers/char/hw_random/virtio-rng.ko",
	"kernel/drivers/input/evdev.ko",
	"kernel/drivers/acpi/button.ko",
}

// debianKernel extracts the cached Debian cloud kernel package once and
// returns the vmlinuz path, the module tree and the release.
func debianKernel(t *testing.T) (vmlinuz, modDir, release string) {
	t.Helper()
	deb := testutil.DebianKernelDebs(t)
	dir := filepath.Join(testutil.CacheDir(t), "agent-kernel", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	if _, err := os.Stat(filepath.Join(dir, ".done")); err != nil {
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(context.Background(), "dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
		}
		if err := os.WriteFile(filepath.Join(dir, ".done"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ks, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	rels, _ := os.ReadDir(filepath.Join(dir, "lib", "modules"))
	if len(ks) != 1 || len(rels) != 1 {
		t.Fatalf("unexpected kernel package layout in %s", dir)
	}
	return ks[0], filepath.Join(dir, "lib", "modules", rels[0].Name()), rels[0].Name()
}

func sh(t *testing.T, dir, script string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "sh", "-ec", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// netModules are what virtio-net needs, for the guests that have a NIC.
var netModules = []string{
	"kernel/net/core/failover.ko",
	"kernel/drivers/net/net_failover.ko",
	"kernel/drivers/net/virtio_net.ko",
}

// initramfs builds stage 1: the agent as /init, the modules and the
// manifest, as the kernel catalog does.
func initramfs(t *testing.T, dir, agentBin, modDir, release string, modules []string) string {
	t.Helper()
	root := filepath.Join(dir, "initramfs")
	copyFile(t, agentBin, filepath.Join(root, "init"), 0o755)
	m := map[string]any{"version": 1, "kernel_release": release}
	var mods []string
	for _, rel := range modules {
		p := "/lib/modules/" + release + "/" + rel
		copyFile(t, filepath.Join(modDir, rel), filepath.Join(root, p), 0o644)
		mods = append(mods, p)
	}
	m["modules"] = mods
	b, _ := json.Marshal(m)
	copyFile(t, "/dev/null", filepath.Join(root, ".banger", "initrd.json"), 0o644)
	if err := os.WriteFile(filepath.Join(root, ".banger", "initrd.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "initrd.cpio")
	sh(t, root, "find . | cpio -o -H newc --quiet > "+out)
	return out
}

// rootfs builds a busybox root with the agent at /.banger/agent, as a
// 48 MiB ext4 in a 96 MiB file (grow_root fills it). It has the API file
// systems' mount points, as images do: a held boot mounts the root
// read-only and cannot make them.
func rootfs(t *testing.T, dir, agentBin string) string {
	t.Helper()
	busybox := testutil.RequireBinary(t, "busybox", "busybox-static")
	root := filepath.Join(dir, "root")
	copyFile(t, busybox, filepath.Join(root, "bin", "busybox"), 0o755)
	copyFile(t, agentBin, filepath.Join(root, ".banger", "agent"), 0o755)
	for _, app := range []string{"sh", "uname", "cat", "echo", "df", "id", "sleep", "hostname", "ls", "date", "head", "od", "touch", "sync", "ip", "ping", "grep"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", app)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"etc", "dev", "proc", "sys", "run", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "root.ext4")
	sh(t, dir, "mkfs.ext4 -q -F -d root "+img+" 48M && truncate -s 96M "+img)
	return img
}

// agentGuest is a real guest's parts: the Debian kernel, the agent as
// stage 1 (initrd) and in a busybox root (rootImg), and the SSH keys.
type agentGuest struct {
	dir, vmlinuz, release, initrd, rootImg string
	hostKey                                agentclient.Key
	clientKey                              agentclient.Key
}

// newAgentGuest builds the parts in a new short temp dir named prefix*.
func newAgentGuest(t *testing.T, prefix string) agentGuest {
	t.Helper()
	return newAgentGuestWith(t, prefix, vmModules)
}

// newAgentGuestWith is newAgentGuest with the initramfs loading modules.
func newAgentGuestWith(t *testing.T, prefix string, modules []string) agentGuest {
	t.Helper()
	testutil.RequireBinary(t, "cpio", "cpio")
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	vmlinuz, modDir, release := debianKernel(t)
	agentBin := testutil.BuildBinary(t, "./cmd/banger-agent")
	dir, err := os.MkdirTemp("", prefix) //nolint:usetesting // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("BANGER_KEEP_VM_DIR") == "" {
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
	}
	g := agentGuest{dir: dir, vmlinuz: vmlinuz, release: release}
	g.initrd = initramfs(t, dir, agentBin, modDir, release, modules)
	g.rootImg = rootfs(t, dir, agentBin)
	g.hostKey, _ = agentclient.NewHostKey()
	g.clientKey, _ = agentclient.NewClientKey()
	return g
}

// config writes the config drive for c, with the guest's keys, the
// virtio-serial channel and a fresh entropy seed, and returns its path.
func (g agentGuest) config(t *testing.T, c bootcfg.Config) string {
	t.Helper()
	c.SSH = bootcfg.SSH{HostKey: string(g.hostKey.PEM), AuthorizedKeys: []string{g.clientKey.AuthorizedKey()}}
	c.Channels = bootcfg.Channels{VirtioPort: "banger.agent"}
	c.EntropySeed, _ = bootcfg.NewEntropySeed()
	path := filepath.Join(g.dir, "cfg.img")
	if err := bootcfg.Write(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}
