// Package cpio writes and reads the "newc" cpio format (SVR4 without CRC,
// magic 070701), the only format the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst).
//
// The writer produces reproducible archives: entries carry the mode, owner
// and content given and a fixed mtime, inode numbers are assigned in write
// order, and every entry has nlink 1 — the kernel treats a regular file
// with nlink >= 2 as a hard-link candidate, so unique inodes with nlink 1
// keep it from ever linking two files. The reader exists to verify what was
// written and is fuzzed, since it parses archives from anywhere.
package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

const (
	magic   = "070701"
	trailer = "TRAILER!!!"
	// headerLen is the magic plus 13 eight-digit hex fields.
	headerLen = 6 + 13*8
)

// Type bits of the mode field (as in stat(2)).
const (
	TypeDir     = 0o040000
	TypeReg     = 0o100000
	TypeSymlink = 0o120000
	TypeChar    = 0o020000
	TypeBlock   = 0o060000
	typeMask    = 0o170000
)

// Header describes one entry.
type Header struct {
	Name string
	// Mode holds the type bits and the permission bits.
	Mode     uint32
	UID, GID uint32
	Mtime    uint32
	Size     int64
	// DevMajor/DevMinor are the device numbers of a character or block node.
	DevMajor, DevMinor uint32
	// Linkname is the target of a symlink (stored as its content).
	Linkname string
}

// Type returns the type bits of the mode.
func (h *Header) Type() uint32 { return h.Mode & typeMask }

// Writer writes a newc archive.
type Writer struct {
	w      io.Writer
	ino    uint32
	remain int64
	pad    int
	closed bool
	n      int64
}

// NewWriter returns a Writer on w. Close writes the trailer.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// WriteHeader starts an entry. For a regular file, exactly h.Size bytes
// must follow through Write; a symlink's target is taken from h.Linkname.
func (w *Writer) WriteHeader(h *Header) error {
	if w.closed {
		return errors.New("cpio: write after close")
	}
	if w.remain != 0 {
		return fmt.Errorf("cpio: previous entry is %d bytes short", w.remain)
	}
	if err := w.finishData(); err != nil {
		return err
	}
	name := strings.TrimPrefix(h.Name, "/")
	if name == "" || name == trailer || strings.ContainsRune(name, 0) {
		return fmt.Errorf("cpio: invalid entry name %q", h.Name)
	}
	size := h.Size
	switch h.Type() {
	case TypeReg:
	case TypeSymlink:
		size = int64(len(h.Linkname))
	case TypeDir, TypeChar, TypeBlock:
		size = 0
	default:
		return fmt.Errorf("cpio: %s: unsupported mode %#o", name, h.Mode)
	}
	if size < 0 || size > 0xffffffff {
		return fmt.Errorf("cpio: %s: size %d does not fit the newc format", name, size)
	}
	w.ino++
	if err := w.header(name, h, w.ino, uint32(size)); err != nil { //nolint:gosec // range checked above
		return err
	}
	if h.Type() == TypeSymlink {
		if _, err := io.WriteString(w.w, h.Linkname); err != nil {
			return err
		}
		w.n += size
		w.pad = padLen(size)
		return nil
	}
	w.remain = size
	w.pad = padLen(size)
	return nil
}

func (w *Writer) header(name string, h *Header, ino, size uint32) error {
	var rdevMajor, rdevMinor uint32
	if t := h.Type(); t == TypeChar || t == TypeBlock {
		rdevMajor, rdevMinor = h.DevMajor, h.DevMinor
	}
	nameSize := len(name) + 1
	s := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		magic, ino, h.Mode, h.UID, h.GID, 1, h.Mtime, size, 0, 0, rdevMajor, rdevMinor, nameSize, 0)
	s += name + "\x00" + strings.Repeat("\x00", padLen(int64(headerLen+nameSize)))
	_, err := io.WriteString(w.w, s)
	w.n += int64(len(s))
	return err
}

// Write writes the current regular file's content.
func (w *Writer) Write(p []byte) (int, error) {
	if int64(len(p)) > w.remain {
		return 0, fmt.Errorf("cpio: write of %d bytes exceeds the entry's remaining %d", len(p), w.remain)
	}
	n, err := w.w.Write(p)
	w.remain -= int64(n)
	w.n += int64(n)
	return n, err
}

func (w *Writer) finishData() error {
	if w.pad == 0 {
		return nil
	}
	_, err := w.w.Write(make([]byte, w.pad))
	w.n += int64(w.pad)
	w.pad = 0
	return err
}

// Close writes the trailer entry. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	if w.remain != 0 {
		return fmt.Errorf("cpio: last entry is %d bytes short", w.remain)
	}
	if err := w.finishData(); err != nil {
		return err
	}
	w.closed = true
	return w.header(trailer, &Header{}, 0, 0)
}

// Written is the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n }

func padLen(n int64) int { return int((4 - n%4) % 4) }

// FileMode converts the header's mode to an fs.FileMode.
func (h *Header) FileMode() fs.FileMode {
	m := fs.FileMode(h.Mode & 0o777)
	switch h.Type() {
	case TypeDir:
		m |= fs.ModeDir
	case TypeSymlink:
		m |= fs.ModeSymlink
	case TypeChar:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case TypeBlock:
		m |= fs.ModeDevice
	}
	return m
}
