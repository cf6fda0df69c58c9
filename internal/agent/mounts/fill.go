package mounts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/fsutil"
)

// Fresh reports whether the file system mounted at dir is still as mkfs
// left it: empty but for an empty lost+found.
func Fresh(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	switch {
	case len(entries) == 0:
		return true, nil
	case len(entries) == 1 && entries[0].Name() == "lost+found":
		sub, err := os.ReadDir(filepath.Join(dir, "lost+found"))
		return err == nil && len(sub) == 0, err
	}
	return false, nil
}

// Fill makes a fresh volume mounted at dst a copy of the image's
// directory src: lost+found goes (a service that wants an empty data
// directory finds one), the root takes src's owner and mode, and src's
// tree is copied with its owners, modes and times (regular files,
// directories, symlinks; other kinds are skipped). A volume that holds
// anything is left as it is; an image without src leaves it empty.
func Fill(src, dst string) error {
	fresh, err := Fresh(dst)
	if err != nil || !fresh {
		return err
	}
	if err := os.Remove(filepath.Join(dst, "lost+found")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fi, err := os.Lstat(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory in the image", src)
	}
	return filepath.WalkDir(src, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		return copyEntry(p, filepath.Join(dst, rel), rel == ".")
	})
}

// copyEntry copies one entry's content and metadata; root is the volume's
// root, which exists.
func copyEntry(src, dst string, root bool) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		if !root {
			if err := os.Mkdir(dst, 0o700); err != nil {
				return err
			}
		}
	case mode.IsRegular():
		// 0600 until copyMeta gives it its mode and owner.
		if err := fsutil.CopyFile(src, dst, 0o600); err != nil {
			return err
		}
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	default:
		return nil // devices, sockets, fifos: not data
	}
	return copyMeta(fi, dst)
}

// copyMeta gives dst fi's owner, mode and modification time (a symlink
// only its owner).
func copyMeta(fi fs.FileInfo, dst string) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok {
		if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, os.ErrPermission) {
			return err
		}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return nil
	}
	// Chmod after chown: chown clears setuid and setgid bits.
	if err := os.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return err
	}
	return os.Chtimes(dst, time.Time{}, fi.ModTime())
}
