package cpio

import (
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Limits that keep a hostile archive from making the reader allocate.
const (
	maxName    = 4096
	maxSymlink = 4096
)

// Reader reads a newc archive entry by entry.
type Reader struct {
	r      io.Reader
	remain int64
	pad    int
	done   bool
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Next advances to the next entry; it returns io.EOF after the trailer.
func (r *Reader) Next() (*Header, error) {
	if r.done {
		return nil, io.EOF
	}
	if _, err := io.CopyN(io.Discard, r.r, r.remain+int64(r.pad)); err != nil {
		return nil, unexpected(err)
	}
	r.remain, r.pad = 0, 0
	var raw [headerLen]byte
	if _, err := io.ReadFull(r.r, raw[:]); err != nil {
		return nil, unexpected(err)
	}
	if string(raw[:6]) != magic {
		return nil, fmt.Errorf("cpio: bad magic %q (only newc, 070701, is supported)", raw[:6])
	}
	var f [13]uint32
	for i := range f {
		v, err := strconv.ParseUint(string(raw[6+8*i:14+8*i]), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("cpio: bad header field %d: %w", i, err)
		}
		f[i] = uint32(v)
	}
	nameSize := int(f[11])
	if nameSize < 1 || nameSize > maxName {
		return nil, fmt.Errorf("cpio: name size %d out of range", nameSize)
	}
	name := make([]byte, nameSize+padLen(int64(headerLen+nameSize)))
	if _, err := io.ReadFull(r.r, name); err != nil {
		return nil, unexpected(err)
	}
	if name[nameSize-1] != 0 {
		return nil, errors.New("cpio: name is not NUL-terminated")
	}
	h := &Header{
		Name: string(name[:nameSize-1]), Mode: f[1], UID: f[2], GID: f[3],
		Mtime: f[5], Size: int64(f[6]), DevMajor: f[9], DevMinor: f[10],
	}
	if h.Name == trailer {
		r.done = true
		return nil, io.EOF
	}
	r.remain, r.pad = h.Size, padLen(h.Size)
	if h.Type() == TypeSymlink {
		if h.Size > maxSymlink {
			return nil, fmt.Errorf("cpio: %s: symlink target of %d bytes", h.Name, h.Size)
		}
		target := make([]byte, h.Size)
		if _, err := io.ReadFull(r, target); err != nil {
			return nil, unexpected(err)
		}
		h.Linkname = string(target)
	}
	return h, nil
}

// Read reads the current entry's content.
func (r *Reader) Read(p []byte) (int, error) {
	if r.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.r.Read(p)
	r.remain -= int64(n)
	if errors.Is(err, io.EOF) && r.remain > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("cpio: truncated archive: %w", io.ErrUnexpectedEOF)
	}
	return err
}
