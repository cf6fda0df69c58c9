package registrytest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Compression is how a synthetic layer's blob is encoded.
type Compression int

// The encodings registries serve.
const (
	Gzip Compression = iota
	Zstd
	Uncompressed
)

// Compress encodes tarball as c.
func Compress(tarball []byte, c Compression) ([]byte, error) {
	var buf bytes.Buffer
	switch c {
	case Gzip:
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		if _, err := zw.Write(tarball); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case Zstd:
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			return nil, err
		}
		if _, err := zw.Write(tarball); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case Uncompressed:
		buf.Write(tarball)
	default:
		return nil, fmt.Errorf("registrytest: unknown compression %d", c)
	}
	return buf.Bytes(), nil
}

// Layer is a layer whose blob is exactly the given bytes: the registry
// serves them as they are, so tests can hand out hostile blobs too (a gzip
// bomb, a truncated stream).
type Layer struct {
	Blob     []byte
	Media    types.MediaType
	DiffHash v1.Hash
}

var _ v1.Layer = (*Layer)(nil)

// NewLayer builds a layer holding entries, compressed with c.
func NewLayer(c Compression, entries ...Entry) (*Layer, error) {
	tarball, err := Tar(entries...)
	if err != nil {
		return nil, err
	}
	return LayerFromTar(tarball, c)
}

// LayerFromTar builds a layer from an uncompressed tarball.
func LayerFromTar(tarball []byte, c Compression) (*Layer, error) {
	blob, err := Compress(tarball, c)
	if err != nil {
		return nil, err
	}
	mt := map[Compression]types.MediaType{
		Gzip: types.OCILayer, Zstd: types.OCILayerZStd, Uncompressed: types.OCIUncompressedLayer,
	}[c]
	return &Layer{Blob: blob, Media: mt, DiffHash: sha(tarball)}, nil
}

// MustLayer is NewLayer (gzip) for fixed test data; it panics on error.
func MustLayer(entries ...Entry) *Layer {
	l, err := NewLayer(Gzip, entries...)
	if err != nil {
		panic("registrytest: " + err.Error())
	}
	return l
}

func sha(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

// Digest is the blob's digest.
func (l *Layer) Digest() (v1.Hash, error) { return sha(l.Blob), nil }

// DiffID is the digest of the uncompressed tarball.
func (l *Layer) DiffID() (v1.Hash, error) { return l.DiffHash, nil }

// Compressed returns the blob.
func (l *Layer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.Blob)), nil
}

// Uncompressed is not needed to push and is not provided.
func (l *Layer) Uncompressed() (io.ReadCloser, error) {
	return nil, fmt.Errorf("registrytest: layers are push-only")
}

// Size is the blob's size.
func (l *Layer) Size() (int64, error) { return int64(len(l.Blob)), nil }

// MediaType is the blob's media type.
func (l *Layer) MediaType() (types.MediaType, error) { return l.Media, nil }

// ImageOption adjusts a synthetic image's config.
type ImageOption func(*v1.ConfigFile)

// WithPlatform sets the image's OS and architecture (default linux/amd64).
func WithPlatform(os, arch string) ImageOption {
	return func(c *v1.ConfigFile) { c.OS, c.Architecture = os, arch }
}

// WithConfig sets the runtime config (entrypoint, cmd, env, ...).
func WithConfig(cfg v1.Config) ImageOption {
	return func(c *v1.ConfigFile) { c.Config = cfg }
}

// NewImage builds an OCI image of layers (oldest first).
func NewImage(layers []v1.Layer, opts ...ImageOption) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: Epoch}
	for _, o := range opts {
		o(cf)
	}
	return mutate.ConfigFile(img, cf)
}
