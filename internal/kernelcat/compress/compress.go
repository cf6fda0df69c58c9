// Package compress names, detects and opens the compression codecs kernels
// travel in: the payload of a bzImage (gzip, xz with the x86 BCJ filter,
// zstd, lz4 legacy, bzip2, lzma), compressed modules (.ko.xz, .ko.zst,
// .ko.gz), a .deb's data.tar.* and a kernel tarball, and the codecs the
// kernel can unpack an initramfs from.
//
// Everything is pure Go so the daemon stays one static binary. The one codec
// no Go library covers fully is xz with a BCJ filter, which the kernel's
// xz_wrap.sh always uses for vmlinux; xz.go decodes that container itself
// on top of ulikunitz/xz's LZMA2 decoder.
package compress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Codec names a compression format.
type Codec string

func (c Codec) String() string { return string(c) }

// The codecs.
const (
	None  Codec = "none"
	Gzip  Codec = "gzip"
	XZ    Codec = "xz"
	Zstd  Codec = "zstd"
	LZ4   Codec = "lz4"
	Bzip2 Codec = "bzip2"
	LZMA  Codec = "lzma"
)

var magics = []struct {
	codec Codec
	magic []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{LZ4, []byte{0x02, 0x21, 0x4c, 0x18}}, // legacy frame (lz4 -l), as the kernel uses
	{LZ4, []byte{0x04, 0x22, 0x4d, 0x18}}, // modern frame
	{Bzip2, []byte("BZh")},
	{LZMA, []byte{0x5d, 0x00, 0x00}}, // lzma "alone", lc=3 lp=0 pb=2
}

// Magics returns every codec's leading bytes, for scanning a blob for a
// compressed stream.
func Magics() map[Codec][][]byte {
	m := map[Codec][][]byte{}
	for _, e := range magics {
		m[e.codec] = append(m[e.codec], e.magic)
	}
	return m
}

// Detect names the codec whose magic starts head, or None.
func Detect(head []byte) Codec {
	for _, e := range magics {
		if bytes.HasPrefix(head, e.magic) {
			return e.codec
		}
	}
	return None
}

// ByExtension names the codec of a file suffix (".xz", ".zst", ".gz", ...),
// or None.
func ByExtension(ext string) Codec {
	switch ext {
	case ".gz", ".tgz":
		return Gzip
	case ".xz", ".txz":
		return XZ
	case ".zst", ".zstd", ".tzst":
		return Zstd
	case ".lz4":
		return LZ4
	case ".bz2", ".tbz2":
		return Bzip2
	case ".lzma":
		return LZMA
	}
	return None
}

// NewReader decompresses r with codec. Each reader stops at the end of its
// first stream, so data after it (the size the kernel's build appends to a
// compressed vmlinux) is never parsed. Close releases decoder resources.
func NewReader(codec Codec, r io.Reader) (io.ReadCloser, error) {
	switch codec {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		zr.Multistream(false)
		return zr, nil
	case XZ:
		return newXZReader(r)
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case LZ4:
		return io.NopCloser(lz4.NewReader(r)), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(r)), nil
	case LZMA:
		zr, err := lzma.NewReader(bufio.NewReader(r))
		if err != nil {
			return nil, fmt.Errorf("lzma: %w", err)
		}
		return io.NopCloser(zr), nil
	}
	return nil, fmt.Errorf("codec %q: %w", codec, errdefs.ErrUnsupported)
}

// NewWriter compresses to w with codec: gzip, zstd, xz (LZMA2, CRC32 check,
// as the kernel's unxz requires) or lz4 in the legacy frame format the
// kernel's unlz4 reads. Close flushes the stream but not w.
func NewWriter(codec Codec, w io.Writer) (io.WriteCloser, error) {
	switch codec {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		return gzip.NewWriterLevel(w, gzip.BestSpeed)
	case Zstd:
		// The kernel decompresses an initramfs in one pass when the window
		// fits in memory; keep the window modest (8 MiB).
		return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithWindowSize(8<<20), zstd.WithEncoderConcurrency(1))
	case LZ4:
		zw := lz4.NewWriter(w)
		if err := zw.Apply(lz4.LegacyOption(true), lz4.CompressionLevelOption(lz4.Level9)); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		return zw, nil
	case XZ:
		return newXZWriter(w)
	}
	return nil, fmt.Errorf("compress with %q: %w", codec, errdefs.ErrUnsupported)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
