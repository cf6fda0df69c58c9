package imagearchive

import (
	"archive/tar"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Bounds on what an archive may hold.
const (
	// maxMembers bounds an archive's members (an index of a million
	// empty files would cost memory, not disk).
	maxMembers = 1 << 16
	// maxDocument bounds an index, manifest or config, read whole.
	maxDocument = 4 << 20
)

// member is a regular file of the archive: where its bytes are.
type member struct{ off, size int64 }

// Archive is an image archive opened for reading.
type Archive struct {
	r       io.ReaderAt
	source  string
	members map[string]member
}

// Open indexes the tar archive of size bytes in r (the caller's copy of
// an upload). source names it in errors ("images.tar"). Members larger
// than maxBlob bytes (0: no bound) are refused, as are links, devices,
// absolute names and names with "..": all errdefs.ErrInvalid.
func Open(r io.ReaderAt, size int64, source string, maxBlob int64) (*Archive, error) {
	a := &Archive{r: r, source: cmp.Or(source, "the archive"), members: map[string]member{}}
	cr := &countingReader{r: io.NewSectionReader(r, 0, size)}
	tr := tar.NewReader(cr)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if i == 0 {
				return nil, a.invalid("it is empty")
			}
			return a, nil
		}
		if err != nil {
			if i == 0 {
				return nil, a.invalid("it is not a tar archive (%v)", err)
			}
			return nil, a.invalid("read tar: %v (truncated?)", err)
		}
		if i >= maxMembers {
			return nil, a.invalid("more than %d members", maxMembers)
		}
		name, err := cleanName(h.Name)
		if err != nil {
			return nil, a.invalid("%v", err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
		default:
			return nil, a.invalid("member %q is a %s; an image archive holds only files and directories", h.Name, typeName(h.Typeflag))
		}
		if maxBlob > 0 && h.Size > maxBlob {
			return nil, a.invalid("member %q is %d bytes, more than image.max_layer_bytes (%d)", h.Name, h.Size, maxBlob)
		}
		if _, dup := a.members[name]; dup {
			return nil, a.invalid("member %q appears twice", h.Name)
		}
		if h.Size > size-cr.n {
			return nil, a.invalid("member %q says %d bytes, past the archive's end (truncated?)", h.Name, h.Size)
		}
		a.members[name] = member{off: cr.n, size: h.Size}
	}
}

func (a *Archive) invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", errdefs.ErrInvalid, a.source, fmt.Sprintf(format, args...))
}

// cleanName is a member's name relative to the archive's root, or an
// error for one that is absolute or climbs out with "..".
func cleanName(name string) (string, error) {
	if path.IsAbs(name) || strings.HasPrefix(name, "\\") {
		return "", fmt.Errorf("member %q has an absolute path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("member %q climbs out of the archive with \"..\"", name)
		}
	}
	c := path.Clean(name)
	if c == "." || c == "" {
		return "", fmt.Errorf("member %q has no name", name)
	}
	return c, nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device node"
	case tar.TypeFifo:
		return "fifo"
	case tar.TypeGNUSparse:
		return "sparse file"
	}
	return fmt.Sprintf("tar entry of type %q", t)
}

// Images returns the archive's images, each with the name the archive
// gives it: from index.json's annotations in an OCI layout (docker 25 and
// later write one too), else from docker save's manifest.json. A name
// whose descriptor is itself an index (a multi-platform image, as docker's
// containerd image store saves one) gives the manifest for platform
// (the host's when empty) among those the archive holds. Every manifest
// and config is read and checked against its digest, and every layer must
// be in the archive with its descriptor's size; layer bytes are checked as
// they are read.
func (a *Archive) Images(platform string) ([]Entry, error) {
	if _, ok := a.members["index.json"]; ok {
		plat, err := imagepull.ParsePlatform(platform)
		if err != nil {
			return nil, err
		}
		return a.ociImages(plat)
	}
	if _, ok := a.members["manifest.json"]; ok {
		return a.dockerImages()
	}
	return nil, a.invalid("neither an OCI image layout (no index.json) nor a docker save archive (no manifest.json)")
}

func (a *Archive) ociImages(plat v1.Platform) ([]Entry, error) {
	b, err := a.document("index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, a.invalid("index.json: %v", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, a.invalid("index.json lists no image")
	}
	var out []Entry
	for i, desc := range idx.Manifests {
		name := cmp.Or(desc.Annotations[AnnotationContainerName], desc.Annotations[AnnotationRefName])
		if name == "" || !strings.ContainsAny(name, ":/") {
			return nil, a.invalid("image %d of index.json (%s) has no image name (annotation %s or %s); save it with a name", i+1, desc.Digest, AnnotationRefName, AnnotationContainerName)
		}
		if desc.MediaType.IsIndex() {
			if desc, err = a.choosePlatform(name, desc, plat); err != nil {
				return nil, err
			}
		}
		if !desc.MediaType.IsImage() {
			return nil, a.invalid("%s is a %s, not an image manifest", name, desc.MediaType)
		}
		manifest, err := a.blob(desc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		img, err := a.image(manifest)
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", a.source, name, err)
		}
		out = append(out, Entry{Name: name, Image: img})
	}
	return out, nil
}

// choosePlatform picks plat's manifest from the index desc names, among
// those whose manifest the archive holds (a save of a multi-platform image
// usually holds one platform's).
func (a *Archive) choosePlatform(name string, desc v1.Descriptor, plat v1.Platform) (v1.Descriptor, error) {
	b, err := a.blob(desc)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("%s: %w", name, err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return v1.Descriptor{}, a.invalid("%s: index %s: %v", name, desc.Digest, err)
	}
	m, have, ok := imagepull.PickPlatform(idx, plat, func(m v1.Descriptor) bool {
		_, err := a.sized(m)
		return err == nil
	})
	if ok {
		return m, nil
	}
	return v1.Descriptor{}, fmt.Errorf("%w: %s: %s has no %s image in the archive (it holds: %s)", errdefs.ErrUnsupported, a.source, name, plat, cmp.Or(strings.Join(have, ", "), "none"))
}

// image is the image of a manifest whose blobs are in the archive.
func (a *Archive) image(manifest []byte) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", errdefs.ErrInvalid, err)
	}
	config, err := a.blob(m.Config)
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if _, err := a.sized(l); err != nil {
			return nil, err
		}
	}
	return imagepull.RawImage(manifest, config, func(d v1.Descriptor) (io.ReadCloser, error) {
		mb, err := a.sized(d)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(io.NewSectionReader(a.r, mb.off, mb.size)), nil
	})
}

// sized is the member holding blob d, which must have d's size.
func (a *Archive) sized(d v1.Descriptor) (member, error) {
	if _, err := v1.NewHash(d.Digest.String()); err != nil || d.Digest.Algorithm != "sha256" {
		return member{}, a.invalid("digest %q: want sha256:<64 hex digits>", d.Digest)
	}
	name := blobPath(d.Digest)
	mb, ok := a.members[name]
	if !ok {
		return member{}, a.invalid("blob %s is missing (no %s)", d.Digest, name)
	}
	if mb.size != d.Size {
		return member{}, a.invalid("blob %s is %d bytes, its descriptor says %d", d.Digest, mb.size, d.Size)
	}
	return mb, nil
}

// blob reads a small blob whole and checks its digest.
func (a *Archive) blob(d v1.Descriptor) ([]byte, error) {
	if _, err := a.sized(d); err != nil {
		return nil, err
	}
	b, err := a.document(blobPath(d.Digest))
	if err != nil {
		return nil, err
	}
	if got, _, _ := v1.SHA256(bytes.NewReader(b)); got != d.Digest {
		return nil, a.invalid("blob %s does not match its digest (its bytes are %s)", d.Digest, got)
	}
	return b, nil
}

// document reads member name whole, up to maxDocument bytes.
func (a *Archive) document(name string) ([]byte, error) {
	mb, ok := a.members[name]
	if !ok {
		return nil, a.invalid("%s is missing", name)
	}
	if mb.size > maxDocument {
		return nil, a.invalid("%s is %d bytes; a manifest, config or index is at most %d", name, mb.size, maxDocument)
	}
	b := make([]byte, mb.size)
	// ReadAt may say io.EOF with every byte read, at the file's end.
	if n, err := a.r.ReadAt(b, mb.off); err != nil && (n < len(b) || !errors.Is(err, io.EOF)) {
		return nil, fmt.Errorf("%s: read %s: %w", a.source, name, err)
	}
	return b, nil
}

// countingReader knows its offset: where a member's content starts once
// tar.Reader has read its header. It seeks, so tar.Reader skips a
// member's content instead of reading it.
type countingReader struct {
	r *io.SectionReader
	n int64
}

func (c *countingReader) Seek(offset int64, whence int) (int64, error) {
	n, err := c.r.Seek(offset, whence)
	if err == nil {
		c.n = n
	}
	return n, err
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
