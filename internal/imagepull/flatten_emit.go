package imagepull

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// xattrPAXPrefix is how tar (GNU, bsdtar, Go, docker) carries an extended
// attribute: a PAX record "SCHILY.xattr.<name>".
const xattrPAXPrefix = "SCHILY.xattr."

// flush writes every name still waiting for ino once its content is at
// hand: content (the member being read) or the spool. The first name gets
// the data; the others become hardlinks to it.
func (f *flattener) flush(ino *inode, content io.Reader) error {
	ino = find(ino)
	if ino.kind == 0 {
		return nil // a demand on a lower layer: its names wait
	}
	for len(ino.waitNames) > 0 {
		name := ino.waitNames[0]
		ino.waitNames = ino.waitNames[1:]
		if ino.kind == kindSkip {
			f.tree.Skipped++
			if n := f.final[name]; n != nil {
				n.skipped = true
			}
			continue
		}
		if ino.emitted != "" {
			f.tree.Hardlinks++
			if err := f.sink.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: ino.emitted, Format: tar.FormatPAX}); err != nil {
				return writeErr(name, err)
			}
			continue
		}
		hdr := outHeader(ino.hdr, name)
		switch ino.kind {
		case kindSymlink:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, ino.hdr.Linkname
			f.tree.Symlinks++
			if err := f.sink.WriteHeader(hdr); err != nil {
				return writeErr(name, err)
			}
		case kindReg:
			src := content
			content = nil
			if src == nil {
				if !ino.spooled {
					return fmt.Errorf("%w: content of %q is gone", errInternal, name)
				}
				src = io.NewSectionReader(f.spool, ino.spoolOff, ino.hdr.Size)
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, ino.hdr.Size
			if err := f.sink.WriteHeader(hdr); err != nil {
				return writeErr(name, err)
			}
			if err := f.copyN(src, hdr.Size); err != nil {
				return err
			}
			f.tree.Files++
			f.tree.Bytes += hdr.Size
		}
		ino.emitted = name
	}
	return nil
}

// copyN copies exactly n bytes of src to the sink.
func (f *flattener) copyN(src io.Reader, n int64) error {
	got, err := io.CopyBuffer(f.sink, io.LimitReader(src, n), f.buf)
	if err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("content ends after %d of %d bytes: %w", got, n, io.ErrUnexpectedEOF)
	}
	return nil
}

func writeErr(name string, err error) error {
	return fmt.Errorf("write %q: %w", name, err)
}

// spoolContent keeps the content of a hidden file that a hardlink later in
// the same layer may still name (tar stores a hardlink's data only with its
// first name). Spooled data lives until the layer ends.
func (f *flattener) spoolContent(ino *inode, content io.Reader, size int64) error {
	ino.spooled = true
	if size == 0 {
		return nil
	}
	if f.spool == nil {
		sp, err := os.CreateTemp(f.tmpDir, "flatten-spool-")
		if err != nil {
			return fmt.Errorf("create spool: %w", err)
		}
		_ = os.Remove(sp.Name()) // unnamed: nothing to leak if we die
		f.spool = sp
	}
	if _, err := f.spool.Seek(f.spoolEnd, io.SeekStart); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	got, err := io.CopyBuffer(f.spool, io.LimitReader(content, size), f.buf)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if got != size {
		return fmt.Errorf("content ends after %d of %d bytes: %w", got, size, io.ErrUnexpectedEOF)
	}
	ino.spoolOff = f.spoolEnd
	f.spoolEnd += size
	return nil
}

func (f *flattener) resetSpool() error {
	if f.spool == nil || f.spoolEnd == 0 {
		return nil
	}
	f.spoolEnd = 0
	if err := f.spool.Truncate(0); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func (f *flattener) closeSpool() {
	if f.spool != nil {
		_ = f.spool.Close()
	}
}

// writeDirs writes every directory with its final header, parents first.
// Directories come last because a directory's header may come from a lower
// layer than its contents; the ext4 writer creates missing parents as it
// goes and takes the header when it arrives.
func (f *flattener) writeDirs() error {
	for _, p := range sortedKeys(f.final) {
		n := f.final[p]
		if !n.dir {
			continue
		}
		src := n.hdr
		if src == nil {
			src = defaultDirHeader
		}
		name := p + "/"
		if p == "" {
			name = "./"
		}
		hdr := outHeader(src, name)
		hdr.Typeflag = tar.TypeDir
		if err := f.sink.WriteHeader(hdr); err != nil {
			return writeErr(name, err)
		}
		f.tree.Dirs++
	}
	return nil
}

// defaultDirHeader is the header of a directory no layer described.
var defaultDirHeader = &tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}

// outHeader copies the metadata of src for a member called name: mode,
// owner, times and extended attributes. User and group names are dropped:
// numeric ids are what the image means.
func outHeader(src *tar.Header, name string) *tar.Header {
	h := &tar.Header{
		Name:       name,
		Mode:       src.Mode,
		Uid:        src.Uid,
		Gid:        src.Gid,
		ModTime:    src.ModTime,
		AccessTime: src.AccessTime,
		ChangeTime: src.ChangeTime,
		Format:     tar.FormatPAX,
	}
	for k, v := range src.PAXRecords {
		if strings.HasPrefix(k, xattrPAXPrefix) {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords[k] = v
		}
	}
	return h
}

// errInternal marks a broken invariant of the flattener.
var errInternal = errors.New("internal error")
