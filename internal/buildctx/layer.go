package buildctx

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// CopySpec is where and how COPY writes its sources.
type CopySpec struct {
	// Dest is the absolute destination in the image.
	Dest string
	// DestDir says Dest is a directory to copy into (it ended with "/",
	// or the COPY has several sources or a pattern); otherwise a single
	// file source is written as Dest itself.
	DestDir bool
	// Chown gives every copied entry these owners; nil keeps the tree's
	// (a build context's are root).
	Chown *Owner
	// Chmod, when not 0, replaces the permission bits of every entry.
	Chmod fs.FileMode
	// Existing gives the kind in the image of each of DestPaths: with
	// it the layer creates the missing destination directories (see
	// created) and a file copied onto an existing directory's name goes
	// into it. Nil: the directories leading to Dest are left to the
	// image, and Dest is taken as DestDir says.
	Existing map[string]PathKind
	// DirTime is the modification time of the directories the layer
	// creates; zero takes the newest of the sources', so a layer written
	// again (--no-cache) is the same layer.
	DirTime time.Time
}

// Owner is a numeric uid and gid.
type Owner struct{ UID, GID int }

// emit calls fn with the header of every entry a COPY of matches writes,
// in a fixed order: the directories it creates (with a nil Entry), then
// each match in turn, a directory's contents by name. A directory
// source's contents go into the destination (not the directory itself,
// as docker does); directories the image has are left as they are (the
// layer does not name them, so an existing /tmp keeps its mode).
func emit(matches []Match, spec CopySpec, fn func(*tar.Header, *Entry, *Tree) error) error {
	dest := path.Clean("/" + spec.Dest)
	if spec.DirTime.IsZero() {
		for _, m := range matches {
			if m.Entry.ModTime.After(spec.DirTime) {
				spec.DirTime = m.Entry.ModTime
			}
		}
	}
	for _, d := range spec.created(matches, dest) {
		if err := fn(dirHeader(d, spec), nil, nil); err != nil {
			return err
		}
	}
	for _, m := range matches {
		e, t := m.Entry, m.tree
		if e.Mode.IsDir() {
			if err := t.emitDir(e, dest, spec, fn); err != nil {
				return err
			}
			continue
		}
		to := dest
		if spec.intoDir(dest) {
			to = path.Join(dest, m.Name)
		}
		if to == "/" {
			return fmt.Errorf("%s: cannot copy a file to / itself; name a directory (/dir/) or a file", m.Name)
		}
		if err := fn(header(e, to, spec), e, t); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tree) emitDir(dir *Entry, to string, spec CopySpec, fn func(*tar.Header, *Entry, *Tree) error) error {
	for _, k := range t.children(dir.Path) {
		at := path.Join(to, path.Base(k.Path))
		if err := fn(header(k, at, spec), k, t); err != nil {
			return err
		}
		if k.Mode.IsDir() {
			if err := t.emitDir(k, at, spec, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

func header(e *Entry, to string, spec CopySpec) *tar.Header {
	h := &tar.Header{
		Name:    strings.TrimPrefix(to, "/"),
		Mode:    tarMode(e.Mode),
		Uid:     e.UID,
		Gid:     e.GID,
		ModTime: e.ModTime,
		Format:  tar.FormatPAX,
	}
	if spec.Chmod != 0 && e.Mode&fs.ModeSymlink == 0 {
		h.Mode = int64(spec.Chmod & 0o7777)
	}
	if spec.Chown != nil {
		h.Uid, h.Gid = spec.Chown.UID, spec.Chown.GID
	}
	switch {
	case e.Mode.IsDir():
		h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
	case e.Mode&fs.ModeSymlink != 0:
		h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Link, 0o777
	default:
		h.Typeflag, h.Size = tar.TypeReg, e.Size
	}
	return h
}

// WriteLayer writes the layer tar (uncompressed) a COPY of matches
// makes. Hard links among the sources are written as separate files.
func WriteLayer(w io.Writer, matches []Match, spec CopySpec) error {
	tw := tar.NewWriter(w)
	err := emit(matches, spec, func(h *tar.Header, e *Entry, t *Tree) error {
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := t.Open(e)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		n, err := io.Copy(tw, f)
		if err == nil && n != h.Size {
			err = fmt.Errorf("%s: %w", e.Path, io.ErrUnexpectedEOF)
		}
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// InputDigest is what a COPY of matches writes, as a build cache keys
// it: every entry's destination, type, mode, owners, link and content
// digest — not its modification time, so touching a file keeps the
// cache as docker's does.
func InputDigest(matches []Match, spec CopySpec) (string, error) {
	h := sha256.New()
	err := emit(matches, spec, func(hd *tar.Header, e *Entry, _ *Tree) error {
		digest := ""
		if e != nil {
			digest = e.Digest
		}
		_, err := fmt.Fprintf(h, "%q %c %o %d %d %q %s\n", hd.Name, hd.Typeflag, hd.Mode, hd.Uid, hd.Gid, hd.Linkname, digest)
		return err
	})
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
