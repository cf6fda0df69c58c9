package rootfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// detectReflink clones a 4 KiB file inside dir with FICLONE.
func detectReflink(dir string) Capability {
	fs := fsName(dir)
	src, err := os.CreateTemp(dir, ".banger-reflink-probe-")
	if err != nil {
		return Capability{Reason: fmt.Sprintf("cannot test reflink in %s: %v", dir, err)}
	}
	defer func() { _ = src.Close(); _ = os.Remove(src.Name()) }()
	dst, err := os.CreateTemp(dir, ".banger-reflink-probe-")
	if err != nil {
		return Capability{Reason: fmt.Sprintf("cannot test reflink in %s: %v", dir, err)}
	}
	defer func() { _ = dst.Close(); _ = os.Remove(dst.Name()) }()
	if _, err := src.Write(make([]byte, 4096)); err != nil {
		return Capability{Reason: fmt.Sprintf("cannot test reflink in %s: %v", dir, err)}
	}
	if err := unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EXDEV) {
			return Capability{Reason: fmt.Sprintf("%s (%s) does not support reflinks (FICLONE: %v)", dir, fs, err)}
		}
		return Capability{Reason: fmt.Sprintf("FICLONE in %s (%s): %v", dir, fs, err)}
	}
	return Capability{OK: true, Reason: fmt.Sprintf("%s (%s) supports reflinks", dir, fs)}
}

// fsName names the file system dir is on, for messages.
func fsName(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown file system"
	}
	names := map[int64]string{
		unix.EXT4_SUPER_MAGIC:      "ext4",
		unix.XFS_SUPER_MAGIC:       "xfs",
		unix.BTRFS_SUPER_MAGIC:     "btrfs",
		unix.TMPFS_MAGIC:           "tmpfs",
		unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
		unix.NFS_SUPER_MAGIC:       "nfs",
		0x2fc12fc1:                 "zfs",
		0xca451a4e:                 "bcachefs",
		unix.F2FS_SUPER_MAGIC:      "f2fs",
	}
	if n, ok := names[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("file system 0x%x", st.Type)
}

// sameFilesystem reports whether a and b are on one file system (a
// reflink cannot cross file systems).
func sameFilesystem(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}
