package buildctx

import (
	"archive/tar"
	"path"
	"strings"
)

// PathKind is what a path is in the image a COPY writes into.
type PathKind uint8

// The kinds of CopySpec.Existing.
const (
	// Absent: the image has nothing there.
	Absent PathKind = iota
	// Dir: a directory.
	Dir
	// NotDir: a file, a symbolic link or a device.
	NotDir
)

// DestPaths are the paths whose kinds CopySpec.Existing must give: the
// destination and each directory above it, "/" excepted, top first.
func (s CopySpec) DestPaths() []string {
	dest := path.Clean("/" + s.Dest)
	var out []string
	for p := dest; p != "/"; p = path.Dir(p) {
		out = append([]string{p}, out...)
	}
	return out
}

// intoDir reports whether the matches go into dest as a directory: the
// COPY says so, a single directory source's contents go there, or dest
// already is a directory in the image (a file then keeps its name in
// it, as docker does).
func (s CopySpec) intoDir(dest string) bool {
	return s.DestDir || s.Existing[dest] == Dir
}

// created lists the directories the COPY of matches creates, top first,
// as BuildKit's copy does (tonistiigi/fsutil copy.MkdirAll): the
// destination directory — or, for a file copied to a name, the
// directory it goes in — and each missing one above it. They get mode
// 0755 and the --chown owner; a directory the image has keeps its
// owner and mode (the layer does not name it). Below a path the image
// has as a non-directory (a symbolic link such as /bin → usr/bin)
// nothing is created here: the layer leaves that to the image. Without
// Existing nothing is created.
func (s CopySpec) created(matches []Match, dest string) []string {
	if s.Existing == nil {
		return nil
	}
	target := dest
	single := len(matches) == 1 && !matches[0].Entry.Mode.IsDir()
	if single && !s.intoDir(dest) {
		target = path.Dir(dest)
	}
	var out []string
	for _, p := range s.DestPaths() {
		if p != target && !strings.HasPrefix(target, p+"/") {
			break
		}
		switch s.Existing[p] {
		case Dir:
			continue
		case NotDir:
			return nil
		}
		// Absent: this directory and every one below it up to target.
		for q := target; q != path.Dir(p); q = path.Dir(q) {
			out = append([]string{q}, out...)
		}
		return out
	}
	return nil
}

// dirHeader is the tar header of a directory a COPY creates.
func dirHeader(p string, s CopySpec) *tar.Header {
	h := &tar.Header{
		Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: 0o755,
		ModTime: s.DirTime, Format: tar.FormatPAX,
	}
	if s.Chown != nil {
		h.Uid, h.Gid = s.Chown.UID, s.Chown.GID
	}
	return h
}
