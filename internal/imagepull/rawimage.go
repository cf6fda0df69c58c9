package imagepull

import (
	"bytes"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// BlobOpener opens the blob a descriptor names, compressed as stored.
// It should check the bytes against the digest (blobcache.Cache.Open does).
type BlobOpener func(v1.Descriptor) (io.ReadCloser, error)

// RawImage is the image whose manifest and config file are exactly
// manifest and config, and whose layers open reads: an image kept on disk
// (the catalog's manifest, config and blob cache) or found in an archive
// (an OCI layout, a docker save) given back with its digest unchanged. It
// checks that the manifest parses, names config by its digest, and lists
// layers; the layers themselves are read only when asked for.
func RawImage(manifest, config []byte, open BlobOpener) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", errdefs.ErrInvalid, err)
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(config)); m.Config.Digest != got {
		return nil, fmt.Errorf("%w: config is %s, the manifest says %s", errdefs.ErrInvalid, got, m.Config.Digest)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
	}
	if !mt.IsImage() {
		return nil, fmt.Errorf("%w: manifest media type %s is not an image manifest", errdefs.ErrUnsupported, mt)
	}
	return partial.CompressedToImage(&rawImage{manifest: manifest, config: config, mt: mt, m: m, open: open})
}

type rawImage struct {
	manifest, config []byte
	mt               types.MediaType
	m                *v1.Manifest
	open             BlobOpener
}

func (r *rawImage) RawManifest() ([]byte, error)        { return r.manifest, nil }
func (r *rawImage) RawConfigFile() ([]byte, error)      { return r.config, nil }
func (r *rawImage) MediaType() (types.MediaType, error) { return r.mt, nil }

// Manifest is the parsed manifest (partial would parse it again).
func (r *rawImage) Manifest() (*v1.Manifest, error) { return r.m, nil }

func (r *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == r.m.Config.Digest {
		return &rawLayer{desc: r.m.Config, open: func(v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(r.config)), nil
		}}, nil
	}
	for _, l := range r.m.Layers {
		if l.Digest == h {
			return &rawLayer{desc: l, open: r.open}, nil
		}
	}
	return nil, fmt.Errorf("%w: the manifest has no layer %s", errdefs.ErrNotFound, h)
}

// rawLayer is one blob of a RawImage.
type rawLayer struct {
	desc v1.Descriptor
	open BlobOpener
}

func (l *rawLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *rawLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *rawLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *rawLayer) Compressed() (io.ReadCloser, error)  { return l.open(l.desc) }

// Descriptor keeps the manifest's descriptor (annotations, urls) as is.
func (l *rawLayer) Descriptor() (*v1.Descriptor, error) { d := l.desc; return &d, nil }
