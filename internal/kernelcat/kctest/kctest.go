// Package kctest builds synthetic kernel artifacts for the kernel
// catalog's tests: a minimal x86_64 ELF vmlinux, a bzImage wrapped around
// a compressed payload with a real boot protocol header, and modules with
// a .modinfo section. They are laid out as the real ones are
// (Documentation/arch/x86/boot.rst, kernel/module), small enough to build
// in every test.
package kctest

import (
	"bytes"
	"encoding/binary"
	"strings"
)

var le = binary.LittleEndian

// xenElfnotePhys32Entry is the PVH entry note type.
const xenElfnotePhys32Entry = 18

// ELF builds a minimal x86_64 ELF executable with one PT_LOAD segment
// holding a linux_banner for release, extra bytes (e.g. an IKCONFIG blob),
// and, with pvh, a PT_NOTE carrying the Xen PVH entry note.
func ELF(release string, pvh bool, extra []byte) []byte {
	const ehsize, phsize = 64, 56
	nph := 1
	if pvh {
		nph = 2
	}
	body := []byte("\x00junk Linux version %s\x00Linux version " + release + " (builder@host) #1 SMP\n\x00")
	body = append(body, bytes.Repeat([]byte{0xe8, 0x10, 0, 0, 0, 0x90}, 2000)...) // call-heavy "code"
	body = append(body, extra...)
	var note []byte
	if pvh {
		note = le.AppendUint32(note, 4)
		note = le.AppendUint32(note, 4)
		note = le.AppendUint32(note, xenElfnotePhys32Entry)
		note = append(note, "Xen\x00"...)
		note = le.AppendUint32(note, 0x1000000)
	}
	off := uint64(ehsize + phsize*nph)
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	for _, v := range []any{uint16(2), uint16(62), uint32(1), uint64(0x1000000), uint64(ehsize), uint64(0), uint32(0),
		uint16(ehsize), uint16(phsize), uint16(nph), uint16(64), uint16(0), uint16(0)} { //nolint:gosec // tiny
		_ = binary.Write(&b, le, v)
	}
	prog := func(typ uint32, o, size uint64) {
		for _, v := range []any{typ, uint32(5), o, 0x1000000 + o, 0x1000000 + o, size, size, uint64(4)} {
			_ = binary.Write(&b, le, v)
		}
	}
	prog(1, off, uint64(len(body)))
	if pvh {
		prog(4, off+uint64(len(body)), uint64(len(note)))
	}
	b.Write(body)
	b.Write(note)
	return b.Bytes()
}

// BzImage wraps payload (a compressed vmlinux, with the build's trailing
// size where the codec has one) in a real-mode setup header of the given
// boot protocol version, as arch/x86/boot/tools/build.c lays it out.
func BzImage(payload []byte, protocol uint16, release string) []byte {
	const setupSects = 3
	setup := make([]byte, (setupSects+1)*512)
	setup[0x1f1] = setupSects
	le.PutUint16(setup[0x1fe:], 0xaa55)
	copy(setup[0x202:], "HdrS")
	le.PutUint16(setup[0x206:], protocol)
	le.PutUint16(setup[0x20e:], 0x300)
	copy(setup[0x500:], release+" (builder@host) #1 SMP\x00")
	const payloadOffset = 0x3c0 // after the decompressor stub
	if protocol >= 0x0208 {
		le.PutUint32(setup[0x248:], payloadOffset)
		le.PutUint32(setup[0x24c:], uint32(len(payload))) //nolint:gosec // test sizes
	}
	out := append(setup, bytes.Repeat([]byte{0x90}, payloadOffset)...)
	out = append(out, payload...)
	return append(out, bytes.Repeat([]byte{0xcc}, 100)...)
}

// Module builds a relocatable x86_64 ELF whose .modinfo section holds the
// given key=value strings: the part of a module the catalog reads.
func Module(modinfo ...string) []byte {
	info := []byte(strings.Join(modinfo, "\x00") + "\x00")
	shstr := []byte("\x00.modinfo\x00.shstrtab\x00")
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	infoOff := uint64(64)
	strOff := infoOff + uint64(len(info))
	shOff := (strOff + uint64(len(shstr)) + 7) &^ 7
	for _, v := range []any{uint16(1), uint16(62), uint32(1), uint64(0), uint64(0), shOff, uint32(0),
		uint16(64), uint16(0), uint16(0), uint16(64), uint16(3), uint16(2)} {
		_ = binary.Write(&b, le, v)
	}
	b.Write(info)
	b.Write(shstr)
	b.Write(make([]byte, shOff-uint64(b.Len()))) //nolint:gosec // positive
	sh := func(name, typ uint32, off, size uint64) {
		for _, v := range []any{name, typ, uint64(0), uint64(0), off, size, uint32(0), uint32(0), uint64(1), uint64(0)} {
			_ = binary.Write(&b, le, v)
		}
	}
	sh(0, 0, 0, 0)
	sh(1, 1, infoOff, uint64(len(info))) // .modinfo, PROGBITS
	sh(10, 3, strOff, uint64(len(shstr)))
	return b.Bytes()
}
