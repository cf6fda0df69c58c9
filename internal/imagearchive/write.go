// Package imagearchive writes and reads image archives, the tar files
// `banger image save` writes and `banger image load` reads: an OCI image
// layout (oci-layout, index.json, blobs/sha256/…) whose index names each
// image (org.opencontainers.image.ref.name and io.containerd.image.name),
// and the docker save format, which since docker 25 is that same layout
// with manifest.json and repositories beside it. Read also takes the
// older docker save archives that have only manifest.json.
//
// An archive comes from anywhere, so Read trusts nothing in it: members
// are looked up by name, never written to disk; absolute paths, "..",
// links and devices are refused, as are members over a size bound, blobs
// whose size is not their descriptor's, and manifests and configs that do
// not hash to their digests. Layer bytes are checked against their digests
// where they are consumed (the blob cache checks each as it stores it).
package imagearchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Format is an archive's layout.
type Format string

// The formats Write writes.
const (
	// OCI is an OCI image layout.
	OCI Format = "oci"
	// Docker is what docker save writes: the OCI layout plus manifest.json
	// and repositories, which older docker versions load.
	Docker Format = "docker"
)

// ParseFormat checks a format name; "" is OCI.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", OCI:
		return OCI, nil
	case Docker:
		return Docker, nil
	}
	return "", fmt.Errorf("%w: archive format %q: want oci or docker", errdefs.ErrInvalid, s)
}

// The annotations naming an image in an index: the OCI one, and the one
// docker and containerd read.
const (
	AnnotationRefName       = "org.opencontainers.image.ref.name"
	AnnotationContainerName = "io.containerd.image.name"
)

// Entry is one image of an archive and the name it is recorded under
// (canonical when written; as the archive has it when read).
type Entry struct {
	Name  string
	Image v1.Image
}

// dockerManifest is one image of docker save's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// blob is one file under blobs/ to write.
type blob struct {
	digest v1.Hash
	size   int64
	data   []byte // manifests and configs
	layer  v1.Layer
}

// Write writes entries as one archive of format to w. Every blob is
// written once, however many images share it. Each layer is read from its
// image as it is written, so a layer that fails its digest check fails
// Write: the archive is then unfinished, and the caller must not present
// it as whole.
func Write(w io.Writer, entries []Entry, format Format) error {
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	var docker []dockerManifest
	repos := map[string]map[string]string{}
	var blobs []blob
	seen := map[v1.Hash]bool{}
	add := func(b blob) {
		if !seen[b.digest] {
			seen[b.digest] = true
			blobs = append(blobs, b)
		}
	}
	for _, e := range entries {
		desc, layers, err := describe(e, add)
		if err != nil {
			return fmt.Errorf("image %s: %w", imagepull.FamiliarName(e.Name), err)
		}
		index.Manifests = append(index.Manifests, desc)
		familiar := imagepull.FamiliarName(e.Name)
		dm := dockerManifest{Config: blobPath(layers[0]), RepoTags: []string{familiar}}
		for _, l := range layers[1:] {
			dm.Layers = append(dm.Layers, blobPath(l))
		}
		docker = append(docker, dm)
		if repo, tag, ok := cutTag(familiar); ok && len(layers) > 1 {
			if repos[repo] == nil {
				repos[repo] = map[string]string{}
			}
			repos[repo][tag] = layers[len(layers)-1].Hex
		}
	}
	tw := tar.NewWriter(w)
	files := []jsonFile{{"oci-layout", map[string]string{"imageLayoutVersion": "1.0.0"}}, {"index.json", index}}
	if format == Docker {
		files = append(files, jsonFile{"manifest.json", docker}, jsonFile{"repositories", repos})
	}
	for _, f := range files {
		b, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := writeMember(tw, f.name, int64(len(b)), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, b := range blobs {
		if err := writeBlob(tw, b); err != nil {
			return err
		}
	}
	return tw.Close()
}

// describe lists e's manifest, config and layers as blobs (through add)
// and returns the manifest's index descriptor and the digests of its
// config and then its layers.
func describe(e Entry, add func(blob)) (v1.Descriptor, []v1.Hash, error) {
	raw, err := e.Image.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	mt, err := e.Image.MediaType()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	digest, err := e.Image.Digest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	config, err := e.Image.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	m, err := e.Image.Manifest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	add(blob{digest: digest, size: int64(len(raw)), data: raw})
	add(blob{digest: m.Config.Digest, size: int64(len(config)), data: config})
	hashes := []v1.Hash{m.Config.Digest}
	for _, l := range m.Layers {
		layer, err := e.Image.LayerByDigest(l.Digest)
		if err != nil {
			return v1.Descriptor{}, nil, err
		}
		add(blob{digest: l.Digest, size: l.Size, layer: layer})
		hashes = append(hashes, l.Digest)
	}
	desc := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: digest,
		Annotations: map[string]string{AnnotationRefName: e.Name, AnnotationContainerName: e.Name}}
	return desc, hashes, nil
}

// epoch is every member's time, so an archive of the same images is the
// same bytes.
var epoch = time.Unix(0, 0).UTC()

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// cutTag splits "repo:tag" at the tag's colon (not a registry port's).
func cutTag(name string) (repo, tag string, ok bool) {
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// jsonFile is a member holding v as JSON.
type jsonFile struct {
	name string
	v    any
}

// writeBlob writes b under blobs/, reading a layer to its end so its
// source's digest check runs.
func writeBlob(tw *tar.Writer, b blob) error {
	if b.layer == nil {
		return writeMember(tw, blobPath(b.digest), b.size, bytes.NewReader(b.data))
	}
	rc, err := b.layer.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", b.digest, err)
	}
	defer func() { _ = rc.Close() }()
	if err := writeMember(tw, blobPath(b.digest), b.size, rc); err != nil {
		return fmt.Errorf("layer %s: %w", b.digest, err)
	}
	return nil
}

// writeMember writes a regular file of size bytes read from r (to its
// end: more or fewer bytes is an error).
func writeMember(tw *tar.Writer, name string, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: %d bytes, the descriptor says %d", name, n, size)
	}
	return nil
}
