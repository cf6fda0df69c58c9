package imagepull

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Compression formats a layer or tarball may use, told apart by their
// magic bytes rather than by a media type a registry or user may get wrong.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0}
	magicBzip2 = []byte("BZh")
)

// zstdMaxWindow bounds the memory a zstd frame may ask for (zstd's own
// default allows far more); real layers use windows of a few MiB.
const zstdMaxWindow = 128 << 20

// decompress returns the tar stream inside r: gzip, zstd, xz, bzip2 or
// plain, bounded to max bytes (0: no bound). Reading past the bound fails
// with ErrTooLarge; a decoder's failure is a *DecompressError. done is true
// once the decompressed stream has reached its end. gzip and zstd, what
// registries serve, have decoders tuned here (zstd's window bounded); xz
// and bzip2, what people compress tarballs with, are kernelcat's decoders.
func decompress(r io.Reader, max int64) (*layerReader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	lr := &layerReader{max: max}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		lr.codec = "gzip"
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &DecompressError{Codec: lr.codec, Err: err}
		}
		lr.r, lr.close = zr, zr.Close
	case bytes.HasPrefix(head, magicZstd):
		lr.codec = "zstd"
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxWindow*2))
		if err != nil {
			return nil, &DecompressError{Codec: lr.codec, Err: err}
		}
		lr.r, lr.close = zr, func() error { zr.Close(); return nil }
	case bytes.HasPrefix(head, magicXz), bytes.HasPrefix(head, magicBzip2):
		codec := compress.XZ
		if bytes.HasPrefix(head, magicBzip2) {
			codec = compress.Bzip2
		}
		lr.codec = codec.String()
		zr, err := compress.NewReader(codec, br)
		if err != nil {
			return nil, &DecompressError{Codec: lr.codec, Err: err}
		}
		lr.r, lr.close = zr, zr.Close
	default:
		lr.r = br
	}
	return lr, nil
}

// DecompressError is a layer or tarball whose compressed stream does not
// decode: corrupt, or cut short.
type DecompressError struct {
	Codec string
	Err   error
}

func (e *DecompressError) Error() string {
	msg := fmt.Sprintf("%s decompression failed: %v", e.Codec, e.Err)
	if errors.Is(e.Err, io.ErrUnexpectedEOF) {
		msg += " (the file is truncated)"
	}
	return msg
}

// Unwrap makes a DecompressError both the decoder's error and an invalid
// argument: the data, not banger, is at fault.
func (e *DecompressError) Unwrap() []error { return []error{errdefs.ErrInvalid, e.Err} }

// layerReader is a decompressed, bounded layer stream.
type layerReader struct {
	r     io.Reader
	codec string // "" for an uncompressed stream
	close func() error
	max   int64
	n     int64
	done  bool
}

func (l *layerReader) Read(p []byte) (int, error) {
	if l.max > 0 && l.n >= l.max {
		// One byte more would exceed the bound: see whether there is one.
		var b [1]byte
		if n, _ := l.r.Read(b[:]); n > 0 {
			return 0, fmt.Errorf("%w: decompresses to more than %d bytes (image.max_layer_bytes)", ErrTooLarge, l.max)
		}
	}
	if l.max > 0 && int64(len(p)) > l.max-l.n {
		p = p[:max(l.max-l.n, 1)]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		l.done = true
	case err != nil && l.codec != "":
		err = &DecompressError{Codec: l.codec, Err: err}
	}
	return n, err
}

func (l *layerReader) Close() error {
	if l.close != nil {
		return l.close()
	}
	return nil
}

// tarError says why reading a layer's tar archive failed: its compression
// (a DecompressError says which), no tar archive at all (the first header
// did not parse), or an archive cut short.
func tarError(id string, members int, err error) error {
	id = layerName(id)
	var de *DecompressError
	switch {
	case errors.As(err, &de), errors.Is(err, ErrTooLarge):
		return fmt.Errorf("%s: %w", id, err)
	case members == 0:
		return fmt.Errorf("%w: %s is not a tar archive (%w)", errdefs.ErrInvalid, id, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: the tar archive ends in the middle of a header (truncated?)", errdefs.ErrInvalid, id)
	}
	return fmt.Errorf("%w: %s: read tar: %w", errdefs.ErrInvalid, id, err)
}

// memberError says why a member's entry failed: its own fault (an
// EntryError naming it), or the stream's — a decompressor's failure, or an
// archive that ends inside the member's content.
func memberError(id, name string, err error) error {
	var (
		ee *EntryError
		de *DecompressError
	)
	switch {
	case errors.As(err, &ee):
		return err
	case errors.As(err, &de):
		return fmt.Errorf("%s: %w", layerName(id), err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: the tar archive ends in the middle of %q (truncated?)", errdefs.ErrInvalid, layerName(id), name)
	}
	return &EntryError{Layer: id, Path: name, Err: err}
}

// layerName is how errors name a layer: "layer sha256:…" for a pulled
// one, the file's name for an imported tarball.
func layerName(id string) string {
	if strings.HasPrefix(id, "sha256:") {
		return "layer " + id
	}
	return id
}

// blobLayer opens a cached blob as a Layer: decompressed, bounded, its
// progress reported (compressed bytes read of size) under id, and its
// digest checked at its end.
func blobLayer(id string, size int64, open func() (io.ReadCloser, error), max int64, report progress.Reporter) Layer {
	return Layer{ID: id, Open: func() (io.ReadCloser, error) {
		raw, err := open()
		if err != nil {
			return nil, err
		}
		pr := &progressReader{r: raw, id: short(id), total: size, report: report, action: "extract", doneMessage: "extracted"}
		lr, err := decompress(pr, max)
		if err != nil {
			_ = raw.Close()
			return nil, err
		}
		return &blobStream{layerReader: lr, raw: raw, pr: pr}, nil
	}}
}

// blobStream closes the decompressor and the blob; when the whole stream
// was read it first drains the blob, so its digest check runs on every
// byte even when the compressor stopped short of the end. It reports the
// layer extracted only when Flatten said the tar archive ended cleanly
// (complete) and the drain passed.
type blobStream struct {
	*layerReader
	raw      io.ReadCloser
	pr       *progressReader
	complete bool
}

// markComplete is Flatten's word that the layer's tar archive ended
// cleanly.
func (b *blobStream) markComplete() { b.complete = true }

func (b *blobStream) Close() error {
	var err error
	if b.done {
		_, err = io.Copy(io.Discard, b.raw)
		if err == nil && b.complete {
			b.pr.finish()
		}
	}
	_ = b.layerReader.Close()
	if cerr := b.raw.Close(); err == nil {
		err = cerr
	}
	return err
}

// progressReader reports bytes read as action, at most every 1 MiB, and
// at finish its end with doneMessage.
type progressReader struct {
	r                   io.Reader
	id                  string
	total               int64
	n                   int64
	last                int64
	report              progress.Reporter
	action, doneMessage string
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n-p.last >= 1<<20 {
		p.last = p.n
		p.report.Report(progress.Event{ID: p.id, Action: p.action, Current: p.n, Total: p.total})
	}
	return n, err
}

func (p *progressReader) finish() {
	p.report.Report(progress.Event{ID: p.id, Action: "done", Current: p.n, Total: p.total, Message: p.doneMessage})
}

// short is the 12-hex-digit form of a digest used as a progress task id.
func short(id string) string {
	const prefix = "sha256:"
	if len(id) >= len(prefix)+12 && id[:len(prefix)] == prefix {
		return id[len(prefix) : len(prefix)+12]
	}
	return id
}
