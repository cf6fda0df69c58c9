package kimage

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
)

// maxVmlinux bounds a decompressed kernel (real ones are 20–100 MiB).
const maxVmlinux = 1 << 30

// Extract decompresses the vmlinux inside the bzImage at src into a new
// file at dst and checks it is an x86_64 ELF executable. It returns the
// codec the payload used. On error dst does not exist.
func Extract(src, dst string) (compress.Codec, error) {
	f, err := os.Open(src) //nolint:gosec // the caller chose the kernel
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	bz, err := ParseBzImage(f, fi.Size())
	if err != nil {
		return "", err
	}
	codec, err := extract(f, fi.Size(), bz, dst)
	if err != nil {
		_ = os.Remove(dst)
		return "", fmt.Errorf("extract vmlinux from %s: %w", src, err)
	}
	return codec, nil
}

func extract(f io.ReaderAt, size int64, bz *BzImage, dst string) (compress.Codec, error) {
	if bz.PayloadLength > 0 {
		payload := io.NewSectionReader(f, bz.PayloadStart(), int64(bz.PayloadLength))
		var head [8]byte
		if _, err := payload.ReadAt(head[:], 0); err != nil {
			return "", fmt.Errorf("read payload: %w", err)
		}
		codec := compress.Detect(head[:])
		if codec == compress.None {
			return "", fmt.Errorf("payload starts with %x: %w", head, errUnknownCodec)
		}
		// Every kernel codec's stream ends with the uncompressed size
		// (gzip's ISIZE, or the size_append of scripts/Makefile.lib), so
		// decode exactly that many bytes and never parse what follows.
		var tail [4]byte
		if _, err := payload.ReadAt(tail[:], int64(bz.PayloadLength)-4); err != nil {
			return "", fmt.Errorf("read payload: %w", err)
		}
		n := int64(binary.LittleEndian.Uint32(tail[:]))
		return codec, decodeTo(codec, payload, n, dst)
	}
	// Boot protocol before 2.08: find the stream by its magic.
	return scan(io.NewSectionReader(f, bz.SetupSize, size-bz.SetupSize), dst)
}

var errUnknownCodec = errors.New("unknown compression (supported: gzip, xz, zstd, lz4, bzip2, lzma)")

// decodeTo writes exactly n decompressed bytes (all of them when n < 0)
// to dst and verifies the result is an x86_64 ELF.
func decodeTo(codec compress.Codec, r io.Reader, n int64, dst string) (err error) {
	if n > maxVmlinux {
		return fmt.Errorf("payload claims %d uncompressed bytes, more than the %d allowed", n, maxVmlinux)
	}
	dec, err := compress.NewReader(codec, bufio.NewReaderSize(r, 1<<20))
	if err != nil {
		return err
	}
	defer func() { _ = dec.Close() }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644) //nolint:gosec // a kernel image is not secret
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	if n >= 0 {
		_, err = io.CopyN(w, dec, n)
	} else {
		var m int64
		m, err = io.Copy(w, io.LimitReader(dec, maxVmlinux+1))
		if err == nil && m > maxVmlinux {
			err = fmt.Errorf("payload decompresses to more than %d bytes", maxVmlinux)
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		// Without a known length (scan mode) the decoder runs into the bytes
		// after its stream; what it produced before counts if it is a
		// complete ELF, as scripts/extract-vmlinux also decides.
		if n < 0 && CheckELF(dst) == nil {
			return nil
		}
		return fmt.Errorf("decompress %s payload: %w", codec, err)
	}
	return CheckELF(dst)
}

// scan tries every codec magic found in r, first match first, until one
// decodes to an ELF.
func scan(r *io.SectionReader, dst string) (compress.Codec, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxVmlinux))
	if err != nil {
		return "", err
	}
	type cand struct {
		off   int
		codec compress.Codec
	}
	var cands []cand
	for codec, ms := range compress.Magics() {
		for _, m := range ms {
			for off := 0; ; {
				i := bytes.Index(data[off:], m)
				if i < 0 || len(cands) > 64 {
					break
				}
				cands = append(cands, cand{off + i, codec})
				off += i + 1
			}
		}
	}
	sortCands := func(a, b cand) int { return a.off - b.off }
	slices.SortFunc(cands, sortCands)
	for _, c := range cands {
		if decodeTo(c.codec, bytes.NewReader(data[c.off:]), -1, dst) == nil {
			return c.codec, nil
		}
	}
	return "", fmt.Errorf("no compressed vmlinux found in the bzImage: %w", errUnknownCodec)
}

// CheckELF verifies path is a 64-bit x86 ELF executable: the only kernel
// format Firecracker loads on x86_64.
func CheckELF(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("not an ELF kernel: %w", err)
	}
	defer func() { _ = f.Close() }()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return fmt.Errorf("ELF %s %s %s, want ELFCLASS64 EM_X86_64 ET_EXEC", f.Class, f.Machine, f.Type)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	loads := 0
	for _, p := range f.Progs {
		if p.Off+p.Filesz > uint64(fi.Size()) { //nolint:gosec // sizes are positive
			return fmt.Errorf("ELF segment [%d+%d) beyond the file's %d bytes (truncated)", p.Off, p.Filesz, fi.Size())
		}
		if p.Type == elf.PT_LOAD {
			loads++
		}
	}
	if loads == 0 {
		return errors.New("ELF kernel has no loadable segment")
	}
	return nil
}
