package archive

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// arMagic starts every ar archive, and so every .deb (deb(5)).
const arMagic = "!<arch>\n"

// IsDeb reports whether head starts an ar archive.
func IsDeb(head []byte) bool { return bytes.HasPrefix(head, []byte(arMagic)) }

// DebData finds the data.tar member of the .deb in r and returns a reader
// of the uncompressed tar stream. Close it when done.
func DebData(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(arMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != arMagic {
		return nil, fmt.Errorf("%w: not a Debian package (no ar header)", errdefs.ErrInvalid)
	}
	for {
		var hdr [60]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("%w: Debian package has no data.tar member", errdefs.ErrInvalid)
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, fmt.Errorf("%w: corrupt ar member header", errdefs.ErrInvalid)
		}
		name := strings.TrimSuffix(strings.TrimRight(string(hdr[0:16]), " "), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%w: ar member %q: bad size", errdefs.ErrInvalid, name)
		}
		if ext, ok := strings.CutPrefix(name, "data.tar"); ok {
			return openMember(io.LimitReader(br, size), ext)
		}
		if _, err := io.CopyN(io.Discard, br, size+size%2); err != nil {
			return nil, fmt.Errorf("%w: truncated Debian package", errdefs.ErrInvalid)
		}
	}
}

// openMember decompresses data.tar<ext>, checking the magic agrees with
// the name.
func openMember(r io.Reader, ext string) (io.ReadCloser, error) {
	codec := compress.ByExtension(path.Ext("x" + ext))
	if ext != "" && codec == compress.None {
		return nil, fmt.Errorf("%w: data.tar%s: unknown compression", errdefs.ErrInvalid, ext)
	}
	br := bufio.NewReader(r)
	head, _ := br.Peek(8)
	if got := compress.Detect(head); got != codec {
		return nil, fmt.Errorf("%w: data.tar%s holds %s data", errdefs.ErrInvalid, ext, got)
	}
	rc, err := compress.NewReader(codec, br)
	if err != nil {
		return nil, fmt.Errorf("%w: data.tar%s: %w", errdefs.ErrInvalid, ext, err)
	}
	return rc, nil
}

// OpenTar returns the uncompressed tar stream of a possibly compressed
// tarball, detecting the codec from its first bytes.
func OpenTar(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(8)
	rc, err := compress.NewReader(compress.Detect(head), br)
	if err != nil {
		return nil, fmt.Errorf("%w: tarball: %w", errdefs.ErrInvalid, err)
	}
	return rc, nil
}
