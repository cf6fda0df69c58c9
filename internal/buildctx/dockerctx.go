package buildctx

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// defaultDockerfile is the Dockerfile's path in a context that names none.
const defaultDockerfile = "Dockerfile"

// ReceiveContext reads a Docker Engine API build context — a tar stream of
// the context directory, plain or gzip-compressed, the Dockerfile at the
// path dockerfile inside it — into dir (an existing scratch directory the
// caller removes), the contents bounded by max bytes (0: no bound). It is
// Receive for the docker CLI's upload: every name and link is validated
// as a hostile tar's would be and the contents land under names Tree
// chose; the Dockerfile is found in the tree, following symlinks only
// inside it. As Docker's daemon does, a context without "Dockerfile"
// falls back to "dockerfile".
func ReceiveContext(r io.Reader, dir, dockerfile string, max int64) (*Upload, error) {
	if dockerfile == "" {
		dockerfile = defaultDockerfile
	}
	r, err := decompress(r)
	if err != nil {
		return nil, err
	}
	t, err := ReadTree(r, dir, false, max)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	df, err := readDockerfile(t, dockerfile)
	if errors.Is(err, errdefs.ErrNotFound) && dockerfile == defaultDockerfile {
		df, err = readDockerfile(t, "dockerfile")
	}
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return nil, fmt.Errorf("cannot locate specified Dockerfile: %s: %w; say where it is with -f", dockerfile, errdefs.ErrInvalid)
	case err != nil:
		return nil, fmt.Errorf("build context: Dockerfile %s: %w", dockerfile, err)
	}
	return &Upload{Dockerfile: df, Context: t}, nil
}

// readDockerfile reads the regular file p names in t, at most
// maxDockerfile bytes.
func readDockerfile(t *Tree, p string) ([]byte, error) {
	if path.IsAbs(p) {
		return nil, fmt.Errorf("%w: the path must be relative to the context", errdefs.ErrInvalid)
	}
	m, err := t.Select(p)
	if err != nil {
		return nil, err
	}
	if len(m) != 1 || !m[0].Entry.Mode.IsRegular() {
		return nil, fmt.Errorf("%w: it is not a regular file", errdefs.ErrInvalid)
	}
	if m[0].Entry.Size > maxDockerfile {
		return nil, fmt.Errorf("%w: it is over %d MiB", errdefs.ErrInvalid, maxDockerfile>>20)
	}
	rc, err := t.Open(m[0].Entry)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rc.Close() }()
	return io.ReadAll(io.LimitReader(rc, maxDockerfile))
}

// decompress answers r uncompressed: gzip is what `docker build
// --compress` sends; the other formats Docker's daemon reads are refused
// by name.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("build context: gzip: %w (%w)", err, errdefs.ErrInvalid)
		}
		return zr, nil
	case bytes.HasPrefix(head, []byte("BZh")):
		return nil, fmt.Errorf("%w: build context: bzip2 is not supported; send it as a plain or gzip-compressed tar", errdefs.ErrInvalid)
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, fmt.Errorf("%w: build context: xz is not supported; send it as a plain or gzip-compressed tar", errdefs.ErrInvalid)
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, fmt.Errorf("%w: build context: zstd is not supported; send it as a plain or gzip-compressed tar", errdefs.ErrInvalid)
	}
	return br, nil
}
