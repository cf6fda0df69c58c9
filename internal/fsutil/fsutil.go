// Package fsutil holds the file operations several packages need done
// exactly one way: replacing a file atomically, copying one into a new
// file (data extents only, for sparse files), hashing one, and saying which file system filled up when a write
// fails for want of space.
package fsutil

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
)

// WriteAtomic replaces path with data: write a temp file in the same
// directory, fsync it, rename it over path, fsync the directory. A reader
// sees the old or the new content, never a mix, even across a crash.
func WriteAtomic(path string, data []byte, mode os.FileMode) error {
	return WriteAtomicWith(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// WriteAtomicWith is WriteAtomic with the content written by write into
// the temp file (a stream, a copy, another process's output through the
// descriptor). When write fails, path is untouched and the temp file gone.
func WriteAtomicWith(path string, mode os.FileMode, write func(*os.File) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	for _, step := range []func() error{
		func() error { return write(tmp) },
		func() error { return tmp.Chmod(mode) },
		tmp.Sync,
	} {
		if err := step(); err != nil {
			_ = tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes dir's entries durable (a rename or a new file in it).
func SyncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // a directory the caller owns
	if err != nil {
		return err
	}
	defer func() { _ = d.Close() }()
	return d.Sync()
}

// CopyFile copies src's content into dst, which must not exist, created
// with perm (before the umask).
func CopyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src) //nolint:gosec // the caller's own paths
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, perm) //nolint:gosec // the caller's own paths
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// SHA256 returns the hex sha256 of a file's content.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Unlisted returns the paths of dir's entries whose names known does not
// hold — what a crash left next to the recorded ones — and none when dir
// does not exist.
func Unlisted(dir string, known map[string]bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !known[e.Name()] {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// RemoveOrphans is a catalog's gc over its inventory: it keeps the
// objects path says are orphans (their path, true), removes each path
// unless dryRun, and returns those objects with every removal's error.
func RemoveOrphans[T any](objs []T, path func(T) (string, bool), dryRun bool) ([]T, error) {
	var out []T
	var errs []error
	for _, o := range objs {
		p, orphan := path(o)
		if !orphan {
			continue
		}
		out = append(out, o)
		if !dryRun {
			errs = append(errs, os.RemoveAll(p))
		}
	}
	return out, errors.Join(errs...)
}
