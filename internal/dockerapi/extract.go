package dockerapi

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/pkg/sftp"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// archivePut extracts the request's tar into the container's directory
// path, then syncs the guest's disks (`banger cp`'s rules: a stop or a
// crash after the answer cannot lose it). The tar is the client's, not
// trusted: an entry whose name leaves the directory (absolute, "..",
// through a link the tar made) or that is a device or fifo refuses the
// whole request; setuid and setgid bits are kept (the guest is the
// caller's own). copyUIDGID keeps the tar's owners; else files are the
// guest root's, as Docker's.
func (s *Server) archivePut(w http.ResponseWriter, r *http.Request) {
	agent, fsys, dir, err := s.guestFiles(r)
	if err != nil {
		writeError(w, err)
		return
	}
	defer func() { _ = fsys.Close() }()
	fi, err := fsys.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = kindError(errdefs.ErrNotFound, "Could not find the file %s in container", dir)
	case err == nil && !fi.IsDir():
		err = badParam("extraction point is not a directory: %s", dir)
	}
	if err == nil {
		q := r.URL.Query()
		x := extractor{fsys: fsys, dir: dir, chown: boolParam(q.Get("copyUIDGID")), noReplace: boolParam(q.Get("noOverwriteDirNonDir"))}
		err = x.extract(r.Context(), tar.NewReader(r.Body))
	}
	if err == nil {
		err = agent.Sync(r.Context())
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// extractor writes a client's tar into a guest directory.
type extractor struct {
	fsys      *sftp.Client
	dir       string
	chown     bool
	noReplace bool
	links     map[string]bool // the symlinks this tar made, by name
	dirs      []dirTimes
}

// dirTimes is a directory whose mode and times are set once its
// entries are written.
type dirTimes struct {
	path string
	hdr  *tar.Header
}

func (x *extractor) extract(ctx context.Context, tr *tar.Reader) error {
	x.links = map[string]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return badParam("archive: the upload is not a tar: %v", err)
		}
		name, err := x.entryName(hdr.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue // the directory itself
		}
		if err := x.entry(hdr, name, tr); err != nil {
			return err
		}
	}
	// Modes and times of directories last: a read-only one is filled first.
	for i := len(x.dirs) - 1; i >= 0; i-- {
		d := x.dirs[i]
		if err := x.finish(d.path, d.hdr); err != nil {
			return err
		}
	}
	return nil
}

// entryName checks a tar name (tarName) and refuses one below a symlink
// this tar made: writing through it could land anywhere.
func (x *extractor) entryName(raw string) (string, error) {
	name, err := tarName(raw)
	if err != nil {
		return "", err
	}
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if x.links[p] {
			return "", badParam("archive: entry %q is below the symlink %q the same archive made: refusing it", raw, p)
		}
	}
	return name, nil
}

// tarName cleans a client's tar entry name to a relative path inside the
// extraction directory ("" for the directory itself), refusing one that
// is absolute, climbs out with "..", or holds a NUL.
func tarName(raw string) (string, error) {
	if strings.ContainsRune(raw, 0) || path.IsAbs(raw) {
		return "", badParam("archive: entry %q is not a relative path: refusing it", raw)
	}
	for _, el := range strings.Split(raw, "/") {
		if el == ".." {
			return "", badParam("archive: entry %q leaves the directory: refusing it", raw)
		}
	}
	name := path.Clean(raw)
	if name == "." {
		return "", nil
	}
	return name, nil
}

// entry writes one tar entry at name (relative to the directory).
func (x *extractor) entry(hdr *tar.Header, name string, r io.Reader) error {
	dst := path.Join(x.dir, name)
	if old, err := x.fsys.Lstat(dst); err == nil && x.noReplace && old.IsDir() != (hdr.Typeflag == tar.TypeDir) {
		return kindError(errdefs.ErrConflict, "archive: cannot overwrite %s %s with a %s", kindOf(old.IsDir()), dst, kindOf(hdr.Typeflag == tar.TypeDir))
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := x.fsys.Mkdir(dst); err != nil {
			if fi, serr := x.fsys.Lstat(dst); serr != nil || !fi.IsDir() {
				return fmt.Errorf("archive: mkdir %s: %w", dst, err)
			}
		}
		x.dirs = append(x.dirs, dirTimes{path: dst, hdr: hdr})
		return nil
	case tar.TypeReg:
		f, err := x.fsys.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			return fmt.Errorf("archive: create %s: %w", dst, err)
		}
		if err := f.Chmod(0o600); err != nil { // before any data: never readable by accident
			_ = f.Close()
			return fmt.Errorf("archive: create %s: %w", dst, err)
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("archive: write %s: %w", dst, err)
		}
	case tar.TypeSymlink:
		_ = x.fsys.Remove(dst) // replacing a file, as Docker's extraction does
		if err := x.fsys.Symlink(hdr.Linkname, dst); err != nil {
			return fmt.Errorf("archive: symlink %s: %w", dst, err)
		}
		x.links[name] = true
		return nil // sftp's chown would follow the link
	case tar.TypeLink:
		target, err := x.entryName(hdr.Linkname)
		if err != nil || target == "" {
			return badParam("archive: hard link %q to %q: the target is not in the archive's directory: refusing it", hdr.Name, hdr.Linkname)
		}
		_ = x.fsys.Remove(dst)
		if err := x.fsys.Link(path.Join(x.dir, target), dst); err != nil {
			return fmt.Errorf("archive: link %s: %w", dst, err)
		}
		return nil
	default:
		return badParam("archive: entry %q: %s files are not copied (devices, fifos, sockets)", hdr.Name, typeName(hdr.Typeflag))
	}
	return x.finish(dst, hdr)
}

// finish sets an entry's owner (copyUIDGID), mode and times.
func (x *extractor) finish(dst string, hdr *tar.Header) error {
	if err := x.owner(dst, hdr); err != nil {
		return err
	}
	mode := fs.FileMode(hdr.Mode).Perm() //nolint:gosec // tar modes are 12 bits
	if hdr.Mode&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if hdr.Mode&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if hdr.Mode&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	if err := x.fsys.Chmod(dst, mode); err != nil {
		return fmt.Errorf("archive: chmod %s: %w", dst, err)
	}
	if err := x.fsys.Chtimes(dst, hdr.ModTime, hdr.ModTime); err != nil {
		return fmt.Errorf("archive: times of %s: %w", dst, err)
	}
	return nil
}

func (x *extractor) owner(dst string, hdr *tar.Header) error {
	if !x.chown {
		return nil
	}
	if err := x.fsys.Chown(dst, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("archive: chown %s: %w", dst, err)
	}
	return nil
}

func kindOf(dir bool) string {
	if dir {
		return "directory"
	}
	return "non-directory"
}

func typeName(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %q", t)
}
