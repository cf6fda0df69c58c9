package kimage

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"strings"
)

// Kind is what a kernel file is.
type Kind string

// The kinds of kernel file.
const (
	KindELF     Kind = "elf"
	KindBzImage Kind = "bzimage"
	KindOther   Kind = "other"
)

// Detect tells an ELF vmlinux from a bzImage by their headers.
func Detect(r io.ReaderAt, size int64) Kind {
	var head [4]byte
	if _, err := r.ReadAt(head[:], 0); err == nil && string(head[:]) == elf.ELFMAG {
		return KindELF
	}
	if _, err := ParseBzImage(r, size); err == nil {
		return KindBzImage
	}
	return KindOther
}

// Vmlinux is what banger reads from an ELF kernel.
type Vmlinux struct {
	// Release is the kernel release from the linux_banner
	// ("Linux version 6.1.0-56-cloud-amd64 (...)"), empty when not found.
	Release string
	// PVH says the kernel has a PVH entry point (the Xen ELF note
	// XEN_ELFNOTE_PHYS32_ENTRY, CONFIG_PVH): QEMU can boot such an ELF
	// directly; without it QEMU needs the bzImage.
	PVH bool
}

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY (include/xen/interface/elfnote.h).
const xenElfnotePhys32Entry = 18

// InspectVmlinux reads the release and the PVH note of an ELF kernel.
func InspectVmlinux(path string) (Vmlinux, error) {
	var v Vmlinux
	f, err := elf.Open(path)
	if err != nil {
		return v, err
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_NOTE && hasNote(p.Open(), "Xen", xenElfnotePhys32Entry, p.Filesz) {
			v.PVH = true
		}
	}
	raw, err := os.Open(path) //nolint:gosec // the caller chose the kernel
	if err != nil {
		return v, err
	}
	defer func() { _ = raw.Close() }()
	v.Release = findRelease(raw)
	return v, nil
}

// hasNote walks an ELF note segment looking for (name, type).
func hasNote(r io.Reader, name string, typ uint32, size uint64) bool {
	data, err := io.ReadAll(io.LimitReader(r, int64(min(size, 1<<20)))) //nolint:gosec // bounded
	if err != nil {
		return false
	}
	for len(data) >= 12 {
		namesz := binary.LittleEndian.Uint32(data[0:])
		descsz := binary.LittleEndian.Uint32(data[4:])
		t := binary.LittleEndian.Uint32(data[8:])
		nameEnd := 12 + align4(namesz)
		end := nameEnd + align4(descsz)
		if end > uint64(len(data)) {
			return false
		}
		n := strings.TrimRight(string(data[12:12+uint64(namesz)]), "\x00")
		if n == name && t == typ {
			return true
		}
		data = data[end:]
	}
	return false
}

func align4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }

var banner = []byte("Linux version ")

// findRelease scans a kernel image for linux_banner and returns the
// release that follows it.
func findRelease(r io.Reader) string {
	br := bufio.NewReaderSize(r, 1<<20)
	var carry []byte
	buf := make([]byte, 1<<20)
	for {
		n, err := br.Read(buf)
		chunk := append(carry, buf[:n]...) //nolint:gocritic // a fresh slice on purpose
		for off := 0; ; {
			i := bytes.Index(chunk[off:], banner)
			if i < 0 {
				break
			}
			rest := chunk[off+i+len(banner):]
			if end := bytes.IndexAny(rest, " \x00\n"); end > 0 && rest[0] >= '0' && rest[0] <= '9' {
				return string(rest[:end])
			}
			off += i + 1
		}
		if err != nil {
			return ""
		}
		carry = append([]byte(nil), chunk[max(0, len(chunk)-256):]...)
	}
}
