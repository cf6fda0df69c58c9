package growfs

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestRootTargetAndBlocks(t *testing.T) {
	infos := []procfs.MountInfo{
		{Major: 0, Minor: 1, Point: "/", FSType: "rootfs"},
		{Major: 254, Minor: 0, Point: "/", FSType: "ext4", Source: "/dev/root"},
		{Major: 0, Minor: 5, Point: "/dev", FSType: "devtmpfs"},
	}
	tg, err := RootTarget(infos)
	if err != nil || tg != (Target{MountPoint: "/", FSType: "ext4", Major: 254, Minor: 0}) {
		t.Fatalf("RootTarget = %+v, %v", tg, err)
	}
	if _, err := RootTarget(infos[2:]); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("no root: %v", err)
	}
	if Blocks(1<<30, 4096) != 262144 || Blocks(1<<30+1000, 4096) != 262144 || Blocks(5, 0) != 0 {
		t.Error("Blocks")
	}
	if _, _, err := Grow(Target{MountPoint: "/", FSType: "xfs"}, 1<<30); !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("xfs: %v", err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(context.Background(), name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A real ext4 on a loop device grows online to fill its enlarged file.
func TestGrowRealExt4(t *testing.T) {
	testutil.RequireRoot(t)
	if !hasCap(t, unix.CAP_SYS_RESOURCE) {
		// Such sandboxes never have it; the QEMU test grows a real root in a guest.
		t.Skip("EXT4_IOC_RESIZE_FS needs CAP_SYS_RESOURCE, which this sandbox withholds")
	}
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	testutil.RequireBinary(t, "losetup", "mount")
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	run(t, "mkfs.ext4", "-q", "-F", img, "32M")
	if err := os.Truncate(img, 96<<20); err != nil { // the host enlarges the disk file
		t.Fatal(err)
	}
	dev := run(t, "losetup", "--find", "--show", img)
	t.Cleanup(func() { _ = exec.CommandContext(context.Background(), "losetup", "-d", dev).Run() })
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		t.Fatalf("mount %s: %v", dev, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		t.Fatal(err)
	}
	size, err := DeviceBytes(unix.Major(st.Rdev), unix.Minor(st.Rdev))
	if err != nil || size != 96<<20 {
		t.Fatalf("DeviceBytes = %d, %v", size, err)
	}
	var before unix.Statfs_t
	_ = unix.Statfs(mnt, &before)
	blocks, grew, err := Grow(Target{MountPoint: mnt, FSType: "ext4"}, size)
	if err != nil || !grew {
		t.Fatalf("Grow = %d, %v, %v", blocks, grew, err)
	}
	var after unix.Statfs_t
	_ = unix.Statfs(mnt, &after)
	if uint64(after.Blocks)*uint64(after.Bsize) < 80<<20 {
		t.Fatalf("file system is %d bytes after growing to a 96 MiB device (was %d)", after.Blocks*uint64(after.Bsize), before.Blocks*uint64(before.Bsize))
	}
	if _, grew, err := Grow(Target{MountPoint: mnt, FSType: "ext4"}, size); err != nil || grew {
		t.Fatalf("growing a full-size file system again: grew %v, %v", grew, err)
	}
}

func hasCap(t *testing.T, c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && n&(1<<uint(c)) != 0
		}
	}
	return false
}
