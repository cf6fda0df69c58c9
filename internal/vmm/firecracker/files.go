package firecracker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bangerdev/banger/internal/fsutil"
)

// runtimeFiles are the backend's entries in a VM's runtime dir. Under the
// jailer the sockets and the log live in the jail, and these are symlinks
// to them, so callers always find them here (and socket paths stay short:
// sun_path holds 107 bytes).
type runtimeFiles struct {
	API, Vsock, Log, Metrics string
}

func runtimeFilesIn(dir string) runtimeFiles {
	return runtimeFiles{
		API:     filepath.Join(dir, "fc.sock"),
		Vsock:   filepath.Join(dir, "vsock.sock"),
		Log:     filepath.Join(dir, "firecracker.log"),
		Metrics: filepath.Join(dir, "firecracker.metrics"),
	}
}

// maxSockPath is the longest unix socket path (sun_path less its NUL).
const maxSockPath = 107

// applyOps carries out a jail plan's file operations. uid and gid own the
// writable files.
func applyOps(ops []FileOp, uid, gid int) error {
	for _, op := range ops {
		if err := applyOp(op, uid, gid); err != nil {
			return fmt.Errorf("prepare jail: %s %s: %w", op.Kind, op.Dst, err)
		}
	}
	return nil
}

func applyOp(op FileOp, uid, gid int) error {
	switch op.Kind {
	case OpMkdir:
		return os.MkdirAll(op.Dst, 0o755)
	case OpSymlink:
		if err := os.Remove(op.Dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return os.Symlink(op.Src, op.Dst)
	case OpCreate:
		f, err := os.OpenFile(op.Dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case OpMknod:
		if err := mknodBlock(op.Dst, op.Rdev); err != nil {
			return err
		}
	case OpLink:
		err := os.Link(op.Src, op.Dst)
		if errors.Is(err, syscall.EXDEV) {
			if op.Writable {
				return fmt.Errorf("%s is writable and on another file system than the jail: put firecracker.chroot_base on the file system of banger's state dir", op.Src)
			}
			err = copyFile(op.Src, op.Dst)
		}
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown file operation %q", op.Kind)
	}
	if op.Writable && (uid != os.Geteuid() || gid != os.Getegid()) {
		return os.Lchown(op.Dst, uid, gid)
	}
	return nil
}

func copyFile(src, dst string) error { return fsutil.CopyFile(src, dst, 0o644) }

// moveFile renames src to dst, copying when they are on different file
// systems.
func moveFile(src, dst string) error {
	err := os.Rename(src, dst)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	_ = os.Remove(dst)
	if err := copyFile(src, dst); err != nil {
		return err
	}
	return os.Remove(src)
}

// removeIfExists removes path; a missing path is not an error.
func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
