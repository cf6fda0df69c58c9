package buildctx

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Entry is one file, directory or link of a Tree.
type Entry struct {
	// Path is clean and relative to the tree's root ("" is the root).
	Path string
	// Mode holds the type and the permission bits (with setuid, setgid
	// and sticky as fs.FileMode flags).
	Mode     fs.FileMode
	UID, GID int
	Size     int64
	ModTime  time.Time
	// Link is a symlink's target as written.
	Link string
	// Digest is a regular file's content sha256 ("sha256:...").
	Digest string
	blob   string
}

// Tree is an index of a tar stream's entries with their contents kept in
// a scratch directory under numbered names.
type Tree struct {
	dir     string
	entries map[string]*Entry
	kids    map[string][]string
	// rooted trees are images: an absolute symlink resolves from the
	// tree's root, as in the guest. In a build context it leaves the
	// context and is refused when followed.
	rooted bool
	bytes  int64
	max    int64
	n      int
}

// NewTree makes an empty tree keeping contents in dir (which must exist)
// up to max bytes in all (0: no bound). rooted says absolute symlinks
// resolve inside the tree (an image's files). ReadTree fills one from a
// whole stream; Add takes single members (imagebuild picks an image's
// account files so).
func NewTree(dir string, rooted bool, max int64) *Tree {
	t := &Tree{dir: dir, entries: map[string]*Entry{}, kids: map[string][]string{}, rooted: rooted, max: max}
	t.entries[""] = &Entry{Mode: fs.ModeDir | 0o755}
	return t
}

// ReadTree reads a whole tar stream into a new tree (see NewTree).
func ReadTree(r io.Reader, dir string, rooted bool, max int64) (*Tree, error) {
	t := NewTree(dir, rooted, max)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w (%w)", err, errdefs.ErrInvalid)
		}
		if err := t.Add(hdr, hdr.Name, tr); err != nil {
			return nil, err
		}
	}
}

// Add validates one tar member, named name, and records it, its content
// read from body. Names must be relative and free of ".." (as GNU tar
// and the image pipeline require); device nodes and fifos are left out.
func (t *Tree) Add(hdr *tar.Header, name string, body io.Reader) error {
	p, err := cleanName(name)
	if err != nil {
		return err
	}
	e := &Entry{Path: p, UID: hdr.Uid, GID: hdr.Gid, ModTime: hdr.ModTime, Mode: fileMode(hdr.Mode)}
	if strings.HasPrefix(path.Base(p), ".wh.") {
		return nil // whiteouts: the flattened streams read here have none to apply
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		e.Mode |= fs.ModeDir
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return fmt.Errorf("%q: symlink with an empty or invalid target: %w", name, errdefs.ErrInvalid)
		}
		e.Mode |= fs.ModeSymlink
		e.Link = hdr.Linkname
	case tar.TypeLink:
		target, err := cleanName(hdr.Linkname)
		if err != nil {
			return fmt.Errorf("%q: hard link: %w", name, err)
		}
		first, ok := t.entries[target]
		if !ok || !first.Mode.IsRegular() {
			return fmt.Errorf("%q: hard link to %q, which is no earlier file: %w", name, hdr.Linkname, errdefs.ErrInvalid)
		}
		e.Mode, e.Size, e.Digest, e.blob = first.Mode, first.Size, first.Digest, first.blob
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // TypeRegA still appears in old archives
		if err := t.store(e, hdr.Size, body); err != nil {
			return fmt.Errorf("%q: %w", name, err)
		}
	default:
		return nil
	}
	if p == "" {
		if !e.Mode.IsDir() {
			return fmt.Errorf("%q: the root must be a directory: %w", name, errdefs.ErrInvalid)
		}
		t.entries[""] = e
		return nil
	}
	if _, seen := t.entries[p]; !seen {
		dir := path.Dir(p)
		if dir == "." {
			dir = ""
		}
		t.mkdirs(dir)
		t.kids[dir] = append(t.kids[dir], p)
	}
	t.entries[p] = e
	return nil
}

// mkdirs records the directories leading to a member the stream named
// before them (a tar may omit parents).
func (t *Tree) mkdirs(dir string) {
	if _, ok := t.entries[dir]; ok {
		return
	}
	parent := path.Dir(dir)
	if parent == "." {
		parent = ""
	}
	t.mkdirs(parent)
	t.kids[parent] = append(t.kids[parent], dir)
	t.entries[dir] = &Entry{Path: dir, Mode: fs.ModeDir | 0o755}
}

func (t *Tree) store(e *Entry, size int64, body io.Reader) error {
	if size < 0 {
		return fmt.Errorf("negative size: %w", errdefs.ErrInvalid)
	}
	if t.max > 0 && t.bytes+size > t.max {
		if t.rooted {
			return fmt.Errorf("the files are over %d MiB, the bound image.max_layer_bytes sets: %w", t.max>>20, errdefs.ErrInvalid)
		}
		return fmt.Errorf("the build context is over %d MiB: %w; list what the build does not need in .dockerignore", t.max>>20, errdefs.ErrInvalid)
	}
	t.n++
	e.blob = filepath.Join(t.dir, strconv.Itoa(t.n))
	f, err := os.OpenFile(e.blob, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(body, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	t.bytes += size
	e.Size, e.Digest = size, "sha256:"+hex.EncodeToString(h.Sum(nil))
	return nil
}

// Open opens a regular file's content.
func (t *Tree) Open(e *Entry) (io.ReadCloser, error) {
	if !e.Mode.IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", e.Path)
	}
	return os.Open(e.blob)
}

// children answers a directory's entries in name order.
func (t *Tree) children(dir string) []*Entry {
	names := append([]string(nil), t.kids[dir]...)
	sort.Strings(names)
	out := make([]*Entry, 0, len(names))
	for _, n := range names {
		out = append(out, t.entries[n])
	}
	return out
}

// cleanName turns a member name into a clean relative path, refusing
// absolute names, ".." and NUL bytes.
func cleanName(name string) (string, error) {
	if strings.HasPrefix(name, "/") || strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("entry %q: absolute or invalid name: %w", name, errdefs.ErrInvalid)
	}
	var out []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
		case "..":
			return "", fmt.Errorf("entry %q: \"..\" in the name: %w", name, errdefs.ErrInvalid)
		default:
			out = append(out, p)
		}
	}
	return strings.Join(out, "/"), nil
}

// The tar mode bits of fs.FileMode's setuid, setgid and sticky flags.
var specialBits = [...]struct {
	flag fs.FileMode
	bit  int64
}{{fs.ModeSetuid, 0o4000}, {fs.ModeSetgid, 0o2000}, {fs.ModeSticky, 0o1000}}

// tarMode is a tar header's Mode for m: its permission bits with setuid,
// setgid and sticky (the type is the header's Typeflag).
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	for _, b := range specialBits {
		if m&b.flag != 0 {
			mode |= b.bit
		}
	}
	return mode
}

// fileMode is tarMode's inverse: a header's permission, setuid, setgid
// and sticky bits as an fs.FileMode (any type bits in it are ignored).
func fileMode(mode int64) fs.FileMode {
	m := fs.FileMode(mode & 0o777)
	for _, b := range specialBits {
		if mode&b.bit != 0 {
			m |= b.flag
		}
	}
	return m
}
