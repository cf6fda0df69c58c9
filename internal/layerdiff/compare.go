package layerdiff

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// changed reports whether upper's p (ust) differs from lower's (lst), of
// the same type. Metadata is compared first: mode, owner, modification
// time, size, device number, link target, extended attributes.
//
// When all of it agrees, a regular file's content is read only if its
// change time differs. Upper is a block copy of lower (a VM's disk is
// cloned from its image), so an inode nobody touched keeps lower's ctime
// to the nanosecond, and no process can set a ctime: any write or
// metadata change since the copy moves it. Equal metadata with a moved
// ctime is rare and is where a content change can hide behind a restored
// mtime (`touch -r`, `cp -p`, tar and rsync all restore it), so only then
// are the bytes compared. Comparing every file would read the whole image
// for each commit; trusting mtime alone would lose such writes.
func (d *differ) changed(p string, lst, ust *unix.Stat_t) (bool, error) {
	if lst.Mode != ust.Mode || lst.Uid != ust.Uid || lst.Gid != ust.Gid || lst.Mtim != ust.Mtim {
		return true, nil
	}
	lpath, upath := filepath.Join(d.lower, p), filepath.Join(d.upper, p)
	switch ust.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if lst.Size != ust.Size {
			return true, nil
		}
	case unix.S_IFLNK:
		lt, err := os.Readlink(lpath)
		if err != nil {
			return false, fmt.Errorf("layer diff: %w", err)
		}
		ut, err := os.Readlink(upath)
		if err != nil {
			return false, fmt.Errorf("layer diff: %w", err)
		}
		if lt != ut {
			return true, nil
		}
	case unix.S_IFCHR, unix.S_IFBLK:
		if lst.Rdev != ust.Rdev {
			return true, nil
		}
	}
	lx, err := xattrs(lpath)
	if err != nil {
		return false, err
	}
	ux, err := xattrs(upath)
	if err != nil {
		return false, err
	}
	if !maps.Equal(lx, ux) {
		return true, nil
	}
	if ust.Mode&unix.S_IFMT != unix.S_IFREG || lst.Ctim == ust.Ctim {
		return false, nil
	}
	same, err := sameContent(lpath, upath)
	return !same, err
}

// sameContent compares two regular files byte by byte.
func sameContent(a, b string) (bool, error) {
	fa, err := openFile(a)
	if err != nil {
		return false, err
	}
	defer func() { _ = fa.Close() }()
	fb, err := openFile(b)
	if err != nil {
		return false, err
	}
	defer func() { _ = fb.Close() }()
	ba, bb := make([]byte, 128<<10), make([]byte, 128<<10)
	for {
		na, erra := io.ReadFull(fa, ba)
		nb, errb := io.ReadFull(fb, bb)
		if !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		endA := errors.Is(erra, io.EOF) || errors.Is(erra, io.ErrUnexpectedEOF)
		endB := errors.Is(errb, io.EOF) || errors.Is(errb, io.ErrUnexpectedEOF)
		switch {
		case erra != nil && !endA:
			return false, fmt.Errorf("layer diff: %s: %w", a, erra)
		case errb != nil && !endB:
			return false, fmt.Errorf("layer diff: %s: %w", b, errb)
		case endA || endB:
			return endA && endB, nil
		}
	}
}

// openFile opens a regular file without following a symlink.
func openFile(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("layer diff: %w", err)
	}
	return f, nil
}

// xattrs reads p's extended attributes (not a symlink's target's).
func xattrs(p string) (map[string]string, error) {
	buf := make([]byte, 4096)
	for {
		n, err := unix.Llistxattr(p, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("layer diff: list xattrs of %s: %w", p, err)
		}
		out := map[string]string{}
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name == "" {
				continue
			}
			v, err := xattr(p, name)
			if err != nil {
				return nil, err
			}
			out[name] = v
		}
		return out, nil
	}
}

func xattr(p, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, 2*len(buf))
			continue
		case err != nil:
			return "", fmt.Errorf("layer diff: xattr %s of %s: %w", name, p, err)
		}
		return string(buf[:n]), nil
	}
}
