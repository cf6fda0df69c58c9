package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/streamsync"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
	"github.com/bangerdev/banger/internal/vmm/vmmtest"
	"github.com/bangerdev/banger/pkg/api"
)

// TestQEMUConformanceWithTheAgent runs the shared vmm suite against QEMU
// booting what banger boots — the imported Debian kernel and its
// initramfs, a copy-on-write disk of the busybox image with banger-agent
// injected, a config drive — and proves the guest ready by the real thing:
// an SSH handshake with the agent over the virtio-serial channel and an
// exec.
func TestQEMUConformanceWithTheAgent(t *testing.T) {
	f := env(t)
	var ks []api.Kernel
	if err := json.Unmarshal([]byte(f.must(t, "kernel", "inspect", "debian", "--format", "json")), &ks); err != nil || len(ks) != 1 {
		t.Fatalf("kernel inspect: %v, %d kernels", err, len(ks))
	}
	k := ks[0]
	var imgs []api.Image
	if err := json.Unmarshal([]byte(f.must(t, "image", "inspect", "busybox", "--format", "json")), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("image inspect: %v, %d images", err, len(imgs))
	}
	img := imgs[0]
	hostKey, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	client, err := agentclient.NewClientKey()
	if err != nil {
		t.Fatal(err)
	}
	cfgDrive := filepath.Join(t.TempDir(), "config.img")
	if err := bootcfg.Write(cfgDrive, bootcfg.Config{
		VMID: "conformance", Hostname: "conformance", Detached: true,
		SSH:      bootcfg.SSH{HostKey: string(hostKey.PEM), AuthorizedKeys: []string{client.AuthorizedKey()}},
		Channels: bootcfg.Channels{VirtioPort: vmm.AgentPortName},
	}); err != nil {
		t.Fatal(err)
	}
	vmmtest.Run(t, vmmtest.Harness{
		NewBackend: func(*testing.T) vmm.Backend { return qemu.New() },
		Spec: func(t *testing.T) vmm.Spec {
			disk := filepath.Join(t.TempDir(), "disk.qcow2")
			if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", img.Rootfs, disk).CombinedOutput(); err != nil {
				t.Fatalf("qemu-img: %v %s", err, out)
			}
			return vmm.Spec{
				Kernel:    vmm.Kernel{Vmlinux: k.Vmlinux, BzImage: k.BzImage, Initrd: k.Initrd},
				Cmdline:   "root=/dev/vda rw rootfstype=ext4 banger.cfg=/dev/vdb init=/.banger/agent quiet",
				CPUs:      1,
				MemoryMiB: 256,
				Drives: []vmm.Drive{
					{ID: "root", Path: disk, Format: "qcow2", Root: true},
					{ID: "config", Path: cfgDrive, ReadOnly: true},
				},
			}
		},
		Guest: func(t *testing.T, conn net.Conn) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			conn, err := streamsync.Host(ctx, conn)
			if err != nil {
				t.Fatalf("agent stream sync: %v", err)
			}
			c, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey.PublicKey(), Signer: client.Signer})
			if err != nil {
				t.Fatalf("agent handshake: %v", err)
			}
			var out bytes.Buffer
			code, err := c.Exec(ctx, agentclient.ExecRequest{Argv: []string{"uname", "-s"}, Stdout: &out})
			if err != nil || code != 0 || out.String() != "Linux\n" {
				t.Fatalf("exec uname in the guest: %q, exit %d, %v", out.String(), code, err)
			}
		},
	})
}
