// Package growfs grows the guest's root ext4 online to fill its block
// device (`banger run --disk SIZE`: the host only enlarges the disk file,
// the guest's file system follows at boot) with the EXT4_IOC_RESIZE_FS
// ioctl, so no resize2fs is needed in the image.
package growfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// ext4IocResizeFS is _IOW('f', 16, __u64).
const ext4IocResizeFS = 0x40086610

// Target is what to grow: the mount point, its file system type and its
// block device.
type Target struct {
	MountPoint   string
	FSType       string
	Major, Minor uint32
}

// RootTarget finds "/" in mountinfo.
func RootTarget(infos []procfs.MountInfo) (Target, error) {
	for i := len(infos) - 1; i >= 0; i-- { // the last mount on "/" is the visible one
		if infos[i].Point == "/" {
			return Target{MountPoint: "/", FSType: infos[i].FSType, Major: infos[i].Major, Minor: infos[i].Minor}, nil
		}
	}
	return Target{}, fmt.Errorf("grow root: / is not in mountinfo: %w", errdefs.ErrNotFound)
}

// Blocks is the block count that fills deviceBytes with blocks of
// blockSize.
func Blocks(deviceBytes, blockSize uint64) uint64 {
	if blockSize == 0 {
		return 0
	}
	return deviceBytes / blockSize
}

// DeviceBytes reads a block device's size from sysfs (in 512-byte
// sectors whatever the device's block size).
func DeviceBytes(major, minor uint32) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/size", major, minor))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("device %d:%d size: %w", major, minor, err)
	}
	return n * 512, nil
}

// Grow resizes the ext4 mounted at t.MountPoint to deviceBytes. It returns
// the new block count and whether it grew (false when already full size).
func Grow(t Target, deviceBytes uint64) (uint64, bool, error) {
	if t.FSType != "ext4" {
		return 0, false, fmt.Errorf("grow root: %s is %s; only ext4 grows online: %w", t.MountPoint, t.FSType, errdefs.ErrUnsupported)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(t.MountPoint, &st); err != nil {
		return 0, false, fmt.Errorf("grow root: statfs: %w", err)
	}
	blocks := Blocks(deviceBytes, uint64(st.Bsize))
	f, err := os.Open(t.MountPoint)
	if err != nil {
		return 0, false, fmt.Errorf("grow root: %w", err)
	}
	defer func() { _ = f.Close() }()
	before := st.Blocks
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var ioErr error
	if err := rc.Control(func(fd uintptr) {
		_, _, e := unix.Syscall(unix.SYS_IOCTL, fd, ext4IocResizeFS, uintptr(unsafe.Pointer(&blocks))) //nolint:gosec // ioctl argument
		if e != 0 {
			ioErr = e
		}
	}); err != nil {
		return 0, false, err
	}
	if ioErr != nil {
		return 0, false, fmt.Errorf("grow root: EXT4_IOC_RESIZE_FS to %d blocks: %w", blocks, ioErr)
	}
	if err := unix.Statfs(t.MountPoint, &st); err != nil {
		return 0, false, err
	}
	return blocks, st.Blocks > before, nil
}
