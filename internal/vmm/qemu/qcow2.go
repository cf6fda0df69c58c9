package qemu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/bangerdev/banger/internal/vmm"
)

// qcow2Magic starts every qcow2 file.
var qcow2Magic = []byte{'Q', 'F', 'I', 0xfb}

// qcow2BackingFormatExt is the header extension naming the backing
// file's format.
const qcow2BackingFormatExt = 0xe2792aca

// qcow2Backing reads the backing file name and format from a qcow2
// header (QEMU's docs/interop/qcow2.txt). QEMU would open the backing file
// by that name itself; the backend opens it instead and hands QEMU a
// descriptor (see files.go), so it needs the name. An overlay without a
// backing file returns "".
func qcow2Backing(r io.ReaderAt) (path, format string, err error) {
	var h [104]byte
	n, err := r.ReadAt(h[:], 0)
	if n < 72 || !bytes.Equal(h[:4], qcow2Magic) {
		if err == nil || errors.Is(err, io.EOF) {
			err = errors.New("not a qcow2 file")
		}
		return "", "", fmt.Errorf("qcow2 header: %w", err)
	}
	be := binary.BigEndian
	version := be.Uint32(h[4:])
	off, size := be.Uint64(h[8:]), be.Uint32(h[16:])
	if off == 0 || size == 0 {
		return "", "", nil
	}
	if size > 1023 {
		return "", "", fmt.Errorf("qcow2 header: backing file name of %d bytes", size)
	}
	name := make([]byte, size)
	if _, err := r.ReadAt(name, int64(off)); err != nil { //nolint:gosec // an offset in the file; ReadAt bounds it
		return "", "", fmt.Errorf("qcow2 backing file name: %w", err)
	}
	if version < 3 || n < 104 {
		return string(name), "", nil
	}
	// Header extensions follow the header (its length is at offset 100),
	// each a type, a length and data padded to 8 bytes, until type 0.
	at := int64(be.Uint32(h[100:]))
	for range 64 {
		var eh [8]byte
		if _, err := r.ReadAt(eh[:], at); err != nil {
			break
		}
		typ, l := be.Uint32(eh[:]), be.Uint32(eh[4:])
		if typ == 0 || l > 4096 {
			break
		}
		if typ == qcow2BackingFormatExt {
			f := make([]byte, l)
			if _, err := r.ReadAt(f, at+8); err != nil {
				break
			}
			format = string(f)
			break
		}
		at += 8 + int64((l+7)&^7)
	}
	return string(name), format, nil
}

// backingFiles reads the backing file of each qcow2 drive from its header.
func backingFiles(drives []vmm.Drive) (map[string]backingFile, error) {
	out := map[string]backingFile{}
	for _, d := range drives {
		if d.Format != vmm.FormatQCOW2 {
			continue
		}
		f, err := os.Open(d.Path)
		if err != nil {
			return nil, fmt.Errorf("drive %s: %w", d.ID, err)
		}
		path, format, err := qcow2Backing(f)
		_ = f.Close()
		if err != nil {
			return nil, fmt.Errorf("drive %s %s: %w", d.ID, d.Path, err)
		}
		if path != "" {
			out[d.Path] = backingFile{Path: path, Format: format}
		}
	}
	return out, nil
}
