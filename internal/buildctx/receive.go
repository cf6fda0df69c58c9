package buildctx

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxDockerfile bounds the upload's Dockerfile.
const maxDockerfile = 4 << 20

// Upload is a received build: the Dockerfile's text and the context.
type Upload struct {
	Dockerfile []byte
	Context    *Tree
}

// Receive reads a stream Pack wrote into dir (an existing scratch
// directory the caller removes), the context's contents bounded by max
// bytes. Every name and link is validated as a hostile tar's would be;
// a stream that is not an upload is refused.
func Receive(r io.Reader, dir string, max int64) (*Upload, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil || hdr.Name != dockerfileName || hdr.Typeflag != tar.TypeReg || hdr.Size > maxDockerfile {
		return nil, fmt.Errorf("build upload: it must start with the Dockerfile (at most %d MiB): %w", maxDockerfile>>20, errdefs.ErrInvalid)
	}
	df, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
	if err != nil {
		return nil, fmt.Errorf("build upload: %w", err)
	}
	up := &Upload{Dockerfile: df, Context: NewTree(dir, false, max)}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return up, nil
		}
		if err != nil {
			return nil, fmt.Errorf("build upload: %w (%w)", err, errdefs.ErrInvalid)
		}
		name, ok := strings.CutPrefix(hdr.Name, contextDir)
		if !ok {
			return nil, fmt.Errorf("build upload: entry %q is outside %s: %w", hdr.Name, contextDir, errdefs.ErrInvalid)
		}
		if hdr.Typeflag == tar.TypeLink {
			target, ok := strings.CutPrefix(hdr.Linkname, contextDir)
			if !ok {
				return nil, fmt.Errorf("build upload: hard link %q to %q is outside %s: %w", hdr.Name, hdr.Linkname, contextDir, errdefs.ErrInvalid)
			}
			hdr.Linkname = target
		}
		if err := up.Context.Add(hdr, name, tr); err != nil {
			return nil, fmt.Errorf("build context: %w", err)
		}
	}
}
