// Package registrytest is a test double for OCI registries: a real
// go-containerregistry registry (pkg/registry) served on loopback, plus
// builders for synthetic images whose layers hold exactly the tar members a
// test wants — whiteouts, opaque directories, hardlinks across layers,
// xattrs, odd names. Image-pipeline, kernel-in-image and VM tests share it.
//
// It is an ordinary package (not a _test file) so that every package's tests
// and the benchmark's registry program can use it; nothing in banger's
// binaries imports it.
package registrytest

import (
	"archive/tar"
	"bytes"
	"time"
)

// Entry is one tar member of a synthetic layer. The zero Type means a
// regular file.
type Entry struct {
	Name string
	Type byte
	// Body is a regular file's content.
	Body string
	// Mode is the permission bits (with setuid/setgid/sticky); zero means
	// 0644 for files and 0755 for directories unless set with WithMode.
	Mode     int64
	modeSet  bool
	UID, GID int
	// Link is a symlink's target or a hardlink's linked name.
	Link string
	// Xattrs are extended attributes, written as SCHILY.xattr PAX records.
	Xattrs  map[string]string
	ModTime time.Time
	// Devmajor/Devminor for device nodes.
	Devmajor, Devminor int64
}

// Epoch is the default modification time of synthetic members.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// File is a regular file.
func File(name, body string) Entry { return Entry{Name: name, Type: tar.TypeReg, Body: body} }

// Dir is a directory.
func Dir(name string) Entry { return Entry{Name: name, Type: tar.TypeDir} }

// Symlink is a symbolic link to target.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeSymlink, Link: target}
}

// Hardlink is another name for the earlier member target.
func Hardlink(name, target string) Entry {
	return Entry{Name: name, Type: tar.TypeLink, Link: target}
}

// Whiteout deletes path from the layers below (an OCI ".wh." file).
func Whiteout(path string) Entry {
	dir, base := "", path
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] == '/' {
			dir, base = path[:i+1], path[i+1:]
			break
		}
	}
	return File(dir+".wh."+base, "")
}

// Opaque hides everything the layers below put in dir.
func Opaque(dir string) Entry { return File(dir+"/.wh..wh..opq", "") }

// Fifo is a named pipe.
func Fifo(name string) Entry { return Entry{Name: name, Type: tar.TypeFifo} }

// CharDev is a character device node.
func CharDev(name string, major, minor int64) Entry {
	return Entry{Name: name, Type: tar.TypeChar, Devmajor: major, Devminor: minor}
}

// WithMode returns e with permission bits mode.
func (e Entry) WithMode(mode int64) Entry { e.Mode, e.modeSet = mode, true; return e }

// WithOwner returns e owned by uid:gid.
func (e Entry) WithOwner(uid, gid int) Entry { e.UID, e.GID = uid, gid; return e }

// WithXattr returns e with one more extended attribute.
func (e Entry) WithXattr(name, value string) Entry {
	x := make(map[string]string, len(e.Xattrs)+1)
	for k, v := range e.Xattrs {
		x[k] = v
	}
	x[name] = value
	e.Xattrs = x
	return e
}

// Header returns the tar header of e.
func (e Entry) Header() *tar.Header {
	typ := e.Type
	if typ == 0 {
		typ = tar.TypeReg
	}
	mode := e.Mode
	if mode == 0 && !e.modeSet {
		mode = 0o644
		if typ == tar.TypeDir {
			mode = 0o755
		}
	}
	mt := e.ModTime
	if mt.IsZero() {
		mt = Epoch
	}
	h := &tar.Header{
		Typeflag: typ, Name: e.Name, Linkname: e.Link, Mode: mode,
		Uid: e.UID, Gid: e.GID, ModTime: mt, Format: tar.FormatPAX,
		Devmajor: e.Devmajor, Devminor: e.Devminor,
	}
	if typ == tar.TypeReg {
		h.Size = int64(len(e.Body))
	}
	for k, v := range e.Xattrs {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+k] = v
	}
	return h
}

// Tar returns an uncompressed tar archive of entries, in order.
func Tar(entries ...Entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		if err := tw.WriteHeader(e.Header()); err != nil {
			return nil, err
		}
		if e.Type == 0 || e.Type == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// MustTar is Tar for fixed test data; it panics on error.
func MustTar(entries ...Entry) []byte {
	b, err := Tar(entries...)
	if err != nil {
		panic("registrytest: " + err.Error())
	}
	return b
}
