package layerdiff

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// xattrPAXPrefix is the PAX record prefix of an extended attribute, the
// one Go's archive/tar, GNU tar and internal/imagepull read.
const xattrPAXPrefix = "SCHILY.xattr."

// emit writes the changes as a tar: every link of a changed inode, parent
// directories first, in walk order.
func (d *differ) emit(w io.Writer) (Stats, error) {
	in := map[string]bool{}
	for _, c := range d.changes {
		in[c.rel] = true
	}
	for _, paths := range d.links {
		if !slices.ContainsFunc(paths, func(p string) bool { return in[p] }) {
			continue
		}
		for _, p := range paths {
			if !in[p] {
				d.st.Changed++
				d.changes = append(d.changes, change{p, kindLink})
			}
		}
	}
	slices.SortStableFunc(d.changes, func(a, b change) int { return strings.Compare(sortKey(a), sortKey(b)) })

	e := &emitter{d: d, tw: tar.NewWriter(w), dirs: map[string]bool{}, first: map[inode]string{}, buf: make([]byte, 256<<10)}
	for _, c := range d.changes {
		if err := d.ctx.Err(); err != nil {
			return Stats{}, err
		}
		if err := e.change(c); err != nil {
			return Stats{}, err
		}
	}
	if err := e.tw.Close(); err != nil {
		return Stats{}, fmt.Errorf("layer diff: %w", err)
	}
	return d.st, nil
}

// sortKey orders changes as the walk met them: by path component, so a
// directory comes right before what is below it ("/" becomes the lowest
// byte, which no name holds), and an opaque marker right after its
// directory.
func sortKey(c change) string {
	k := strings.ReplaceAll(c.rel, "/", "\x00")
	if c.kind == kindOpaque {
		k += "\x00"
	}
	return k
}

type emitter struct {
	d     *differ
	tw    *tar.Writer
	dirs  map[string]bool  // directories written
	first map[inode]string // the path each multi-link inode was written as
	buf   []byte
}

// epoch is the modification time of whiteouts: they have no inode, and a
// constant keeps the layer deterministic.
var epoch = time.Unix(0, 0)

func (e *emitter) change(c change) error {
	switch c.kind {
	case kindWhiteout:
		dir, base := path.Split(c.rel)
		return e.marker(dir + whiteoutPrefix + base)
	case kindOpaque:
		return e.marker(c.rel + "/" + opaqueMarker)
	}
	if err := e.parents(c.rel); err != nil {
		return err
	}
	return e.entry(c.rel)
}

func (e *emitter) marker(name string) error {
	if err := e.parents(name); err != nil {
		return err
	}
	return e.write(&tar.Header{Typeflag: tar.TypeReg, Name: name, ModTime: epoch, Format: tar.FormatPAX})
}

// parents writes the directories above p not written yet, from upper.
func (e *emitter) parents(p string) error {
	dir := path.Dir(p)
	if dir == "." || e.dirs[dir] {
		return nil
	}
	if err := e.parents(dir); err != nil {
		return err
	}
	e.d.st.Parents++
	return e.entry(dir)
}

// entry writes upper's p.
func (e *emitter) entry(p string) error {
	abs := filepath.Join(e.d.upper, p)
	st, err := e.d.lstat(e.d.upper, p)
	if err != nil {
		return err
	}
	hdr, err := header(p, abs, &st)
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		e.dirs[p] = true
	}
	if hdr.Typeflag == tar.TypeReg && st.Nlink > 1 {
		key := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs by architecture
		if target, ok := e.first[key]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, target, 0
			e.d.st.Hardlinks++
			return e.write(hdr)
		}
		e.first[key] = p
	}
	if err := e.write(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := openFile(abs)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	n, err := io.CopyBuffer(e.tw, io.LimitReader(f, hdr.Size), e.buf)
	if err != nil {
		return fmt.Errorf("layer diff: /%s: %w", p, err)
	}
	if n != hdr.Size {
		return fmt.Errorf("layer diff: /%s: shrank from %d to %d bytes while it was read", p, hdr.Size, n)
	}
	e.d.st.Bytes += n
	return nil
}

func (e *emitter) write(hdr *tar.Header) error {
	if err := e.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("layer diff: %s: %w", hdr.Name, err)
	}
	return nil
}

// header is the tar header of the file at abs (p in the layer): numeric
// owner, permission bits with setuid, setgid and sticky, the modification
// time to the nanosecond, extended attributes as PAX records, nothing
// from the host (user names, access and change times).
func header(p, abs string, st *unix.Stat_t) (*tar.Header, error) {
	hdr := &tar.Header{
		Name:    p,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec), //nolint:unconvert // field types differ by architecture
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
	case unix.S_IFDIR:
		hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
	case unix.S_IFLNK:
		target, err := os.Readlink(abs)
		if err != nil {
			return nil, fmt.Errorf("layer diff: %w", err)
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev))) //nolint:unconvert // Rdev's type differs by architecture
	default:
		return nil, fmt.Errorf("layer diff: /%s: unknown file type %#o", p, st.Mode&unix.S_IFMT)
	}
	xs, err := xattrs(abs)
	if err != nil {
		return nil, err
	}
	for name, v := range xs {
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[xattrPAXPrefix+name] = v
	}
	return hdr, nil
}
