// Package kimage inspects and converts kernel images: the x86 bzImage a
// distribution ships (which QEMU boots) and the ELF vmlinux inside it
// (which Firecracker needs: on x86_64 it loads only ELF). It finds the
// compressed payload from the boot protocol's setup header
// (Documentation/arch/x86/boot.rst: payload_offset and payload_length
// since protocol 2.08), falling back to scanning for a codec's magic, and
// verifies that what comes out is an x86_64 ELF executable.
package kimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Offsets in the real-mode setup header (boot.rst, "The Real-Mode Kernel
// Header").
const (
	offSetupSects    = 0x1f1
	offBootFlag      = 0x1fe
	offHeader        = 0x202
	offVersion       = 0x206
	offKernelVersion = 0x20e
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
	setupHeaderEnd   = 0x250
)

// ErrNotBzImage says a file has no x86 boot protocol header.
var ErrNotBzImage = errors.New("not a bzImage (no x86 boot protocol header)")

// BzImage is what the setup header says about a bzImage.
type BzImage struct {
	// Protocol is the boot protocol version (0x020f is 2.15).
	Protocol uint16
	// SetupSize is the byte length of the real-mode part; the
	// protected-mode kernel follows it.
	SetupSize int64
	// PayloadOffset/PayloadLength locate the compressed vmlinux relative to
	// the protected-mode code (protocol >= 2.08; zero before).
	PayloadOffset, PayloadLength uint32
	// KernelVersion is the header's version string ("6.1.0-56-cloud-amd64
	// (debian-kernel@...) #1 SMP ..."); Release is its first word.
	KernelVersion string
	Release       string
}

// ParseBzImage reads the setup header of the bzImage in r (size bytes).
func ParseBzImage(r io.ReaderAt, size int64) (*BzImage, error) {
	var h [setupHeaderEnd]byte
	if size < int64(len(h)) {
		return nil, ErrNotBzImage
	}
	if _, err := r.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("read setup header: %w", err)
	}
	if string(h[offHeader:offHeader+4]) != "HdrS" || binary.LittleEndian.Uint16(h[offBootFlag:]) != 0xaa55 {
		return nil, ErrNotBzImage
	}
	b := &BzImage{Protocol: binary.LittleEndian.Uint16(h[offVersion:])}
	sects := int64(h[offSetupSects])
	if sects == 0 {
		sects = 4
	}
	b.SetupSize = (sects + 1) * 512
	if b.SetupSize >= size {
		return nil, fmt.Errorf("bzImage: setup size %d beyond the file's %d bytes", b.SetupSize, size)
	}
	if b.Protocol >= 0x0208 {
		b.PayloadOffset = binary.LittleEndian.Uint32(h[offPayloadOffset:])
		b.PayloadLength = binary.LittleEndian.Uint32(h[offPayloadLength:])
		if end := b.SetupSize + int64(b.PayloadOffset) + int64(b.PayloadLength); b.PayloadLength < 4 || end > size {
			return nil, fmt.Errorf("bzImage: payload [%d+%d) outside the file's %d bytes", b.PayloadOffset, b.PayloadLength, size)
		}
	}
	if p := int64(binary.LittleEndian.Uint16(h[offKernelVersion:])); p != 0 && p+0x200 < min(size, b.SetupSize) {
		var s [256]byte
		n, _ := r.ReadAt(s[:], p+0x200)
		if i := bytes.IndexByte(s[:n], 0); i >= 0 {
			b.KernelVersion = string(s[:i])
			b.Release, _, _ = strings.Cut(b.KernelVersion, " ")
		}
	}
	return b, nil
}

// PayloadStart is the payload's absolute offset in the file.
func (b *BzImage) PayloadStart() int64 { return b.SetupSize + int64(b.PayloadOffset) }
