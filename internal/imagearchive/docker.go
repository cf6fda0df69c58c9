package imagearchive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// docker save's manifest.json, read when an archive has no index.json
// (docker before 25).

func (a *Archive) dockerImages() ([]Entry, error) {
	b, err := a.document("manifest.json")
	if err != nil {
		return nil, err
	}
	var dms []dockerManifest
	if err := json.Unmarshal(b, &dms); err != nil {
		return nil, a.invalid("manifest.json: %v", err)
	}
	if len(dms) == 0 {
		return nil, a.invalid("manifest.json lists no image")
	}
	var out []Entry
	for i, dm := range dms {
		if len(dm.RepoTags) == 0 {
			return nil, a.invalid("image %d of manifest.json (%s) has no name (RepoTags); save it with a name", i+1, dm.Config)
		}
		img, err := a.dockerImage(dm)
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", a.source, dm.RepoTags[0], err)
		}
		for _, tag := range dm.RepoTags {
			out = append(out, Entry{Name: tag, Image: img})
		}
	}
	return out, nil
}

// dockerImage makes the manifest docker save leaves out: a docker
// manifest of the config and the layer files, as they are (gzip, zstd or
// plain tar, told by their first bytes).
func (a *Archive) dockerImage(dm dockerManifest) (v1.Image, error) {
	config, err := a.document(path.Clean(dm.Config))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.DockerManifestSchema2,
		Config: v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(config))}}
	m.Config.Digest, _, _ = v1.SHA256(bytes.NewReader(config))
	for _, l := range dm.Layers {
		name := path.Clean(l)
		mb, ok := a.members[name]
		if !ok {
			return nil, a.invalid("layer %s is missing", l)
		}
		d, media, err := a.hashLayer(mb)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", l, err)
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: media, Size: mb.size, Digest: d})
		// The blob is found by its digest from now on.
		a.members[blobPath(d)] = mb
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return a.image(raw)
}

// hashLayer digests a layer file and tells its media type by its first
// bytes.
func (a *Archive) hashLayer(mb member) (v1.Hash, types.MediaType, error) {
	d, _, err := v1.SHA256(io.NewSectionReader(a.r, mb.off, mb.size))
	if err != nil {
		return v1.Hash{}, "", err
	}
	head := make([]byte, 4)
	n, _ := a.r.ReadAt(head, mb.off)
	head = head[:n]
	media := types.DockerUncompressedLayer
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		media = types.DockerLayer
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		media = types.OCILayerZStd
	}
	return d, media, nil
}
