package imagepull

import (
	"archive/tar"
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ExtractImage writes the flattened root file system of img — any
// v1.Image, its layers read as it serves them — to w as one tar stream,
// through Flatten: hardlinks follow inodes across layers, whiteouts and
// names are checked as for a pull. It is what to use instead of
// go-containerregistry's mutate.Extract (see the package doc).
func ExtractImage(ctx context.Context, img v1.Image, w io.Writer, opts FlattenOptions) error {
	ls, err := img.Layers()
	if err != nil {
		return fmt.Errorf("layers: %w", err)
	}
	layers := make([]Layer, len(ls))
	for i, l := range ls {
		d, err := l.Digest()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		layers[i] = Layer{ID: d.String(), Open: l.Uncompressed}
	}
	tw := tar.NewWriter(w)
	if _, err := Flatten(ctx, layers, tw, opts); err != nil {
		return err
	}
	return tw.Close()
}
