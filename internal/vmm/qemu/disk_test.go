package qemu_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/guest"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// A per-VM disk from rootfs boots as /dev/vda: the guest reads the image's
// file and writes its own, which lands in the VM's disk and not in the
// image. Run for each strategy that works on any file system.
func TestRootfsDiskInGuest(t *testing.T) {
	if testing.Short() {
		t.Skip("boots VMs")
	}
	testutil.RequireQEMU(t)
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	ir := guest.Initramfs{Modules: guest.BaseModules, Script: `
mkdir -p /mnt
mount -t ext4 /dev/vda /mnt && echo "guest: hello=$(cat /mnt/hello)"
echo from-guest > /mnt/written
umount /mnt && echo "guest: unmounted"
`}
	base := t.TempDir()
	src := filepath.Join(base, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("world"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(base, "image.ext4")
	mustRun(t, "mkfs.ext4", "-q", "-F", "-d", src, img, "16M")
	if err := os.Chmod(img, 0o444); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	disks := rootfs.New()
	for _, s := range []string{rootfs.QCOW2, rootfs.Copy} {
		t.Run(s, func(t *testing.T) {
			id := "disk-" + s
			dir := filepath.Join(base, "vms", id)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			req := rootfs.Request{VMID: id, Image: img, ImageSize: fi.Size(), Dir: dir, QCOW2: qemu.New().Capabilities().Opens(vmm.FormatQCOW2)}
			d, err := disks.Create(t.Context(), req, s, func(rootfs.Disk) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = disks.Remove(context.Background(), id, dir) }()
			ctx, m, console := bootScript(t, id, ir, vmm.Drive{ID: "root", Path: d.Path, Format: d.Format, Root: true})
			if _, err := m.Wait(ctx); err != nil { // the script ends with a power-off
				t.Fatalf("guest did not finish: %v", err)
			}
			out, _ := os.ReadFile(console)
			if !strings.Contains(string(out), "guest: hello=world") || !strings.Contains(string(out), "guest: unmounted") {
				t.Fatalf("guest console:\n%s", out)
			}
			raw := d.Path
			if d.Format == "qcow2" {
				raw = filepath.Join(t.TempDir(), "disk.raw")
				mustRun(t, "qemu-img", "convert", "-O", "raw", d.Path, raw)
			}
			if got := mustRun(t, "debugfs", "-R", "cat /written", raw); got != "from-guest\n" {
				t.Errorf("/written in the VM disk = %q", got)
			}
			if got := mustRun(t, "debugfs", "-R", "ls -l /", img); strings.Contains(got, "written") {
				t.Errorf("the guest's write reached the image:\n%s", got)
			}
		})
	}
}

func mustRun(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), argv[0], argv[1:]...).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return string(out)
}
