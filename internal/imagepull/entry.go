package imagepull

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
)

// entryKind is what a tar member means to the merged tree.
type entryKind uint8

const (
	kindDir      entryKind = iota + 1
	kindReg                // regular file (content follows)
	kindSymlink            // symbolic link (target in the header)
	kindHardlink           // another name for an earlier inode
	kindSkip               // device or fifo: not representable, counted
	kindWhiteout           // .wh.NAME: hide NAME from lower layers
	kindOpaque             // .wh..wh..opq: hide the directory's lower contents
	kindIgnore             // pax global headers, AUFS .wh..wh.* metadata
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
	// maxNameBytes is ext4's limit on one path component.
	maxNameBytes = 255
	// maxSymlinkBytes is ext4's limit on a symlink target (one 4 KiB block).
	maxSymlinkBytes = 4095
)

// entry is a validated tar member: a clean path relative to the root ("" is
// the root itself) and what it does.
type entry struct {
	hdr    *tar.Header
	path   string
	kind   entryKind
	target string // hardlink: the clean path of the linked name
}

// EntryError reports a member the pipeline refuses, naming the layer and the
// member exactly as the archive spelled it (quoted, so a newline or a
// control character is visible rather than interpreted).
type EntryError struct {
	Layer string
	Path  string
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("%s: %q: %v", layerName(e.Layer), e.Path, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// ErrUnsafePath is wrapped by errors for members whose names or links would
// reach outside the image's root.
var ErrUnsafePath = errors.New("unsafe path")

// ErrTooLarge is wrapped by errors for layers past the configured size
// bound (image.max_layer_bytes): decompression bombs and their kin.
var ErrTooLarge = errors.New("too large")

// cleanPath turns a member name into a slash-separated path relative to the
// root. It rejects absolute names and any ".." component outright (as GNU
// tar does), NUL bytes, and components ext4 cannot hold.
func cleanPath(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute path", ErrUnsafePath)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errors.New("name contains a NUL byte")
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch {
		case p == "" || p == ".":
			continue
		case p == "..":
			return "", fmt.Errorf("%w: \"..\" component", ErrUnsafePath)
		case len(p) > maxNameBytes:
			return "", fmt.Errorf("component of %d bytes exceeds ext4's %d", len(p), maxNameBytes)
		}
		out = append(out, p)
	}
	return strings.Join(out, "/"), nil
}

// symlinkEscapes reports whether target, read from the symlink at linkPath,
// climbs above the root at any point when walked lexically (absolute targets
// start at the root, relative ones at the link's directory). Inside a VM the
// kernel clamps ".." at "/", but host tools that follow links in an
// extracted tree do not, so such links are refused.
func symlinkEscapes(linkPath, target string) bool {
	depth := 0
	if !strings.HasPrefix(target, "/") && linkPath != "" {
		depth = strings.Count(linkPath, "/") // components of the link's directory
	}
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		default:
			depth++
		}
	}
	return false
}

// parseEntry validates one tar header and classifies it.
func parseEntry(hdr *tar.Header) (entry, error) {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return entry{hdr: hdr, kind: kindIgnore}, nil
	}
	p, err := cleanPath(hdr.Name)
	if err != nil {
		return entry{}, err
	}
	e := entry{hdr: hdr, path: p}
	dir, base := splitPath(p)
	if strings.HasPrefix(base, whiteoutPrefix) {
		switch {
		case base == opaqueMarker:
			e.kind, e.path = kindOpaque, dir
		case strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix):
			e.kind = kindIgnore // AUFS hardlink/metadata files, never content
		default:
			name := base[len(whiteoutPrefix):]
			if name == "" || name == "." || name == ".." {
				return entry{}, fmt.Errorf("%w: whiteout of %q", ErrUnsafePath, name)
			}
			e.kind, e.path = kindWhiteout, joinPath(dir, name)
		}
		return e, nil
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		e.kind = kindDir
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont: //nolint:staticcheck // TypeRegA still appears in old archives
		e.kind = kindReg
		if hdr.Size < 0 {
			return entry{}, fmt.Errorf("negative size %d", hdr.Size)
		}
	case tar.TypeSymlink:
		e.kind = kindSymlink
		switch {
		case hdr.Linkname == "":
			return entry{}, errors.New("symlink with an empty target")
		case len(hdr.Linkname) > maxSymlinkBytes:
			return entry{}, fmt.Errorf("symlink target of %d bytes exceeds ext4's %d", len(hdr.Linkname), maxSymlinkBytes)
		case strings.IndexByte(hdr.Linkname, 0) >= 0:
			return entry{}, errors.New("symlink target contains a NUL byte")
		case symlinkEscapes(p, hdr.Linkname):
			return entry{}, fmt.Errorf("%w: symlink to %q leaves the root", ErrUnsafePath, hdr.Linkname)
		}
	case tar.TypeLink:
		e.kind = kindHardlink
		t, err := cleanPath(hdr.Linkname)
		if err != nil {
			return entry{}, fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
		}
		if t == "" || t == p {
			return entry{}, fmt.Errorf("hardlink to %q", hdr.Linkname)
		}
		e.target = t
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		e.kind = kindSkip
	default:
		return entry{}, fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
	if p == "" && e.kind != kindDir {
		return entry{}, errors.New("the root must be a directory")
	}
	return e, nil
}

// splitPath splits a clean path into its directory and base name.
func splitPath(p string) (string, string) {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i], p[i+1:]
	}
	return "", p
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// ancestors calls fn with each proper ancestor of p, nearest first, not
// including the root; fn returns false to stop.
func ancestors(p string, fn func(string) bool) {
	for {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return
		}
		p = p[:i]
		if !fn(p) {
			return
		}
	}
}

// seenKind records what one layer said about a path.
type seenKind uint8

const (
	seenImplicit seenKind = iota + 1 // an ancestor of something in the layer
	seenDir
	seenNonDir
	seenWhiteout
)

// layerCheck rejects layers whose meaning would depend on the order of
// their members: a path given twice (except directories, where the last
// header wins), a path both whited out and present, or a member below a
// non-directory of the same layer. Registries never serve such layers; a
// hostile or hand-made one gets a clear error instead of a guess.
type layerCheck struct {
	seen    map[string]seenKind
	opaques map[string]bool
}

func newLayerCheck() *layerCheck {
	return &layerCheck{seen: map[string]seenKind{}, opaques: map[string]bool{}}
}

func (c *layerCheck) add(e entry) error {
	if e.kind == kindIgnore {
		return nil
	}
	var err error
	ancestors(joinPath(e.path, "x"), func(a string) bool {
		if a == e.path && e.kind != kindOpaque {
			return true // e.path itself is checked below
		}
		switch c.seen[a] {
		case seenNonDir:
			err = fmt.Errorf("below %q, which the same layer makes a non-directory", a)
		case seenWhiteout:
			err = fmt.Errorf("below %q, which the same layer whites out", a)
		case 0:
			c.seen[a] = seenImplicit
		}
		return err == nil
	})
	if err != nil {
		return err
	}
	if e.kind == kindOpaque {
		c.opaques[e.path] = true
		return nil
	}
	prev := c.seen[e.path]
	switch e.kind {
	case kindDir:
		if prev == seenNonDir || prev == seenWhiteout {
			return errors.New("given twice in one layer")
		}
		c.seen[e.path] = seenDir
	case kindWhiteout:
		if prev != 0 {
			return errors.New("both whited out and present in one layer")
		}
		c.seen[e.path] = seenWhiteout
	default:
		if prev != 0 {
			return errors.New("given twice in one layer")
		}
		c.seen[e.path] = seenNonDir
	}
	return nil
}

// removes reports whether the layer whites out p, hides it under an opaque
// directory, or replaces one of p's ancestors with a non-directory; used to
// tell when a hardlink's target disappears in a layer.
func (c *layerCheck) removes(p string) bool {
	if c.seen[p] == seenWhiteout {
		return true
	}
	removed := false
	ancestors(p, func(a string) bool {
		k := c.seen[a]
		removed = k == seenNonDir || k == seenWhiteout || c.opaques[a]
		return !removed
	})
	return removed || (p != "" && c.opaques[""])
}

// state returns what the layer said about p so far, and whether it made one
// of p's ancestors a non-directory.
func (c *layerCheck) state(p string) (seenKind, bool) {
	under := false
	ancestors(p, func(a string) bool {
		under = c.seen[a] == seenNonDir
		return !under
	})
	return c.seen[p], under
}
