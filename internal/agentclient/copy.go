package agentclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/pkg/sftp"
)

// SFTP opens an sftp session (a channel on the connection); close it when
// done.
func (c *Client) SFTP(opts ...sftp.ClientOption) (*sftp.Client, error) {
	s, err := sftp.NewClient(c.client, opts...)
	if err != nil {
		return nil, fmt.Errorf("agentclient: sftp: %w", err)
	}
	return s, nil
}

// CopyIn copies the host file or directory tree src into the guest at dst,
// like `cp -r`: when dst is an existing directory, src lands inside it.
// Modes, modification times and symlinks are kept. It returns once the
// guest has synced the copy to its disk: a stop, a kill or a crash of the
// VMM after it cannot lose it.
func (c *Client) CopyIn(ctx context.Context, src, dst string) error {
	s, err := c.SFTP()
	if err != nil {
		return err
	}
	if fi, err := s.Stat(dst); err == nil && fi.IsDir() {
		dst = path.Join(dst, filepath.Base(src))
	}
	err = copyTree(ctx, localFS{}, guestFS{s}, src, dst)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return c.Sync(ctx)
}

// CopyOut copies the guest file or directory tree src to dst on the host,
// with CopyIn's rules.
func (c *Client) CopyOut(ctx context.Context, src, dst string) error {
	s, err := c.SFTP()
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, path.Base(src))
	}
	return copyTree(ctx, guestFS{s}, localFS{}, src, dst)
}

// treeFS is the part of a file system copyTree needs; localFS and guestFS
// implement it for the host and (over sftp) the guest.
type treeFS interface {
	Lstat(p string) (fs.FileInfo, error)
	ReadDir(p string) ([]fs.FileInfo, error)
	Open(p string) (io.ReadCloser, error)
	Create(p string, mode fs.FileMode) (io.WriteCloser, error)
	Mkdir(p string, mode fs.FileMode) error
	Chmod(p string, mode fs.FileMode) error
	Chtimes(p string, fi fs.FileInfo) error
	Readlink(p string) (string, error)
	Symlink(target, p string) error
	Join(elem ...string) string
}

func copyTree(ctx context.Context, from, to treeFS, src, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fi, err := from.Lstat(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := from.Readlink(src)
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		if err := to.Symlink(target, dst); err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		return nil
	case fi.IsDir():
		if err := to.Mkdir(dst, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("copy %s to %s: %w", src, dst, err)
		}
		ents, err := from.ReadDir(src)
		if err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		for _, e := range ents {
			if err := copyTree(ctx, from, to, from.Join(src, e.Name()), to.Join(dst, e.Name())); err != nil {
				return err
			}
		}
	case fi.Mode().IsRegular():
		if err := copyFile(from, to, src, dst, fi); err != nil {
			return err
		}
	default:
		return fmt.Errorf("copy %s: %v files are not copied", src, fi.Mode().Type())
	}
	// The mode last, so a read-only directory is filled first.
	if err := to.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("copy %s: chmod %s: %w", src, dst, err)
	}
	if err := to.Chtimes(dst, fi); err != nil {
		return fmt.Errorf("copy %s: times of %s: %w", src, dst, err)
	}
	return nil
}

func copyFile(from, to treeFS, src, dst string, fi fs.FileInfo) error {
	r, err := from.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer func() { _ = r.Close() }()
	w, err := to.Create(dst, fi.Mode().Perm())
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

type localFS struct{}

func (localFS) Lstat(p string) (fs.FileInfo, error) { return os.Lstat(p) }
func (localFS) ReadDir(p string) ([]fs.FileInfo, error) {
	ents, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(ents))
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		out = append(out, fi)
	}
	return out, nil
}
func (localFS) Open(p string) (io.ReadCloser, error) { return os.Open(p) }
func (localFS) Create(p string, mode fs.FileMode) (io.WriteCloser, error) {
	return os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
}
func (localFS) Mkdir(p string, mode fs.FileMode) error { return os.Mkdir(p, mode) }
func (localFS) Chmod(p string, mode fs.FileMode) error { return os.Chmod(p, mode) }
func (localFS) Chtimes(p string, fi fs.FileInfo) error {
	return os.Chtimes(p, fi.ModTime(), fi.ModTime())
}
func (localFS) Readlink(p string) (string, error) { return os.Readlink(p) }
func (localFS) Symlink(target, p string) error    { return os.Symlink(target, p) }
func (localFS) Join(elem ...string) string        { return filepath.Join(elem...) }

type guestFS struct{ s *sftp.Client }

func (g guestFS) Lstat(p string) (fs.FileInfo, error)     { return g.s.Lstat(p) }
func (g guestFS) ReadDir(p string) ([]fs.FileInfo, error) { return g.s.ReadDir(p) }
func (g guestFS) Open(p string) (io.ReadCloser, error)    { return g.s.Open(p) }
func (g guestFS) Create(p string, mode fs.FileMode) (io.WriteCloser, error) {
	f, err := g.s.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(mode); err != nil { // before any data: never world-readable by accident
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
func (g guestFS) Mkdir(p string, _ fs.FileMode) error {
	err := g.s.Mkdir(p)
	if err != nil {
		if fi, serr := g.s.Stat(p); serr == nil && fi.IsDir() {
			return fs.ErrExist
		}
	}
	return err
}
func (g guestFS) Chmod(p string, mode fs.FileMode) error { return g.s.Chmod(p, mode) }
func (g guestFS) Chtimes(p string, fi fs.FileInfo) error {
	return g.s.Chtimes(p, fi.ModTime(), fi.ModTime())
}
func (g guestFS) Readlink(p string) (string, error) { return g.s.ReadLink(p) }
func (g guestFS) Symlink(target, p string) error    { return g.s.Symlink(target, p) }
func (g guestFS) Join(elem ...string) string        { return path.Join(elem...) }
