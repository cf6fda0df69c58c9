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
	"strings"
	"syscall"

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
	err = copyTree(ctx, localFS{}, guestFS{s}, src, dst, fs.ModeSetuid|fs.ModeSetgid)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return c.Sync(ctx)
}

// CopyOut copies the guest file or directory tree src to dst on the host,
// with CopyIn's rules. The guest is not trusted: everything is written
// through an os.Root at dst's parent, so no name, symlink (relative or
// absolute) or entry the guest sends writes outside dst; a name that is
// not one path element ("..", "a/b") or a special file stops the copy;
// symlinks are copied as links and never written through; and files lose
// their setuid and setgid bits (a guest must not plant a setuid program
// on the host of whoever copies).
func (c *Client) CopyOut(ctx context.Context, src, dst string) error {
	s, err := c.SFTP()
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	return copyOut(ctx, guestFS{s}, src, dst)
}

// copyOut copies src from the (untrusted) guest to dst on the host.
func copyOut(ctx context.Context, from treeFS, src, dst string) error {
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		dst = filepath.Join(dst, path.Base(src))
	}
	name := filepath.Base(dst)
	if err := checkName(name); err != nil {
		return fmt.Errorf("copy %s to %s: %w: name the destination", src, dst, err)
	}
	root, err := os.OpenRoot(filepath.Dir(dst))
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer func() { _ = root.Close() }()
	return copyTree(ctx, from, rootFS{root}, src, name, 0)
}

// checkName accepts a directory entry's name: one path element.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return errors.New("not a file name")
	}
	return nil
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

// copyTree copies src to dst. keep are the mode bits beyond the
// permissions that are copied (setuid, setgid: into the guest only).
func copyTree(ctx context.Context, from, to treeFS, src, dst string, keep fs.FileMode) error {
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
			if err := checkName(e.Name()); err != nil {
				return fmt.Errorf("copy %s: entry %q: %w: refusing it", src, e.Name(), err)
			}
			if err := copyTree(ctx, from, to, from.Join(src, e.Name()), to.Join(dst, e.Name()), keep); err != nil {
				return err
			}
		}
	case fi.Mode().IsRegular():
		if err := copyFile(from, to, src, dst, fi); err != nil {
			return err
		}
	default:
		return fmt.Errorf("copy %q: %v files are not copied", src, fi.Mode().Type())
	}
	// The mode last, so a read-only directory is filled first.
	if err := to.Chmod(dst, fi.Mode().Perm()|fi.Mode()&(keep|fs.ModeSticky)); err != nil {
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

// rootFS is the host below an os.Root, for CopyOut: every path is
// relative to the root and no operation leaves it. Files are created
// without following a symlink in their place; an existing entry where a
// directory goes must be a directory.
type rootFS struct{ r *os.Root }

func (f rootFS) Lstat(p string) (fs.FileInfo, error) { return f.r.Lstat(p) }
func (f rootFS) ReadDir(p string) ([]fs.FileInfo, error) {
	d, err := f.r.Open(p)
	if err != nil {
		return nil, err
	}
	defer func() { _ = d.Close() }()
	return d.Readdir(-1)
}
func (f rootFS) Open(p string) (io.ReadCloser, error) { return f.r.Open(p) }
func (f rootFS) Create(p string, mode fs.FileMode) (io.WriteCloser, error) {
	return f.r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
}
func (f rootFS) Mkdir(p string, mode fs.FileMode) error {
	err := f.r.Mkdir(p, mode)
	if errors.Is(err, fs.ErrExist) {
		if fi, lerr := f.r.Lstat(p); lerr == nil && !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory (%v)", p, fi.Mode().Type())
		}
	}
	return err
}
func (f rootFS) Chmod(p string, mode fs.FileMode) error { return f.r.Chmod(p, mode) }
func (f rootFS) Chtimes(p string, fi fs.FileInfo) error {
	return f.r.Chtimes(p, fi.ModTime(), fi.ModTime())
}
func (f rootFS) Readlink(p string) (string, error) { return f.r.Readlink(p) }
func (f rootFS) Symlink(target, p string) error    { return f.r.Symlink(target, p) }
func (rootFS) Join(elem ...string) string          { return filepath.Join(elem...) }

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
