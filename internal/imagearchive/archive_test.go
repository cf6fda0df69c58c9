package imagearchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func testImage(t testing.TB) v1.Image {
	t.Helper()
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/hostname", "box\n"))})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// archiveOf writes img as NAME in format.
func archiveOf(t testing.TB, format Format, entries ...Entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, entries, format); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tarMember struct {
	hdr  tar.Header
	body []byte
}

// rewrite reads archive's members, lets edit change the list, and writes
// them back.
func rewrite(t testing.TB, archive []byte, edit func([]tarMember) []tarMember) []byte {
	t.Helper()
	var ms []tarMember
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		ms = append(ms, tarMember{*h, b})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range edit(ms) {
		h := m.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(m.body)
	}
	_ = tw.Close()
	return buf.Bytes()
}

func readAll(archive []byte, maxBlob int64) ([]Entry, error) {
	a, err := Open(bytes.NewReader(archive), int64(len(archive)), "x.tar", maxBlob)
	if err != nil {
		return nil, err
	}
	return a.Images("")
}

func TestRoundTrip(t *testing.T) {
	img := testImage(t)
	want, _ := img.Digest()
	for _, f := range []Format{OCI, Docker} {
		got, err := readAll(archiveOf(t, f, Entry{Name: "docker.io/library/box:1", Image: img}, Entry{Name: "127.0.0.1:5000/a/b:2", Image: img}), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Name != "docker.io/library/box:1" || got[1].Name != "127.0.0.1:5000/a/b:2" {
			t.Fatalf("%s: entries %+v", f, got)
		}
		for _, e := range got {
			if d, _ := e.Image.Digest(); d != want {
				t.Fatalf("%s: %s read back as %s, want %s", f, e.Name, d, want)
			}
		}
	}
	// The same images give the same bytes.
	if !bytes.Equal(archiveOf(t, OCI, Entry{Name: "box:1", Image: img}), archiveOf(t, OCI, Entry{Name: "box:1", Image: img})) {
		t.Error("two saves of one image differ")
	}
}

// A docker save archive without index.json (docker before 25) loads with
// a manifest made from its config and layer files.
func TestDockerWithoutIndex(t *testing.T) {
	got, err := readAll(dockerWithoutIndex(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "box:1" {
		t.Fatalf("entries %+v", got)
	}
	layers, err := got[0].Image.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %v, %v", layers, err)
	}
	if mt, _ := layers[0].MediaType(); mt != "application/vnd.docker.image.rootfs.diff.tar.gzip" {
		t.Errorf("layer media type %s", mt)
	}
	rc, _ := layers[0].Uncompressed()
	b, _ := io.ReadAll(rc)
	if !bytes.Contains(b, []byte("box\n")) {
		t.Error("the layer's content is not the file's")
	}
}

// dockerWithoutIndex is box:1 as docker save wrote it before docker 25:
// manifest.json and no index.json.
func dockerWithoutIndex(t testing.TB) []byte {
	return rewrite(t, archiveOf(t, Docker, Entry{Name: "docker.io/library/box:1", Image: testImage(t)}), func(ms []tarMember) []tarMember {
		var out []tarMember
		for _, m := range ms {
			if m.hdr.Name != "index.json" && m.hdr.Name != "oci-layout" {
				out = append(out, m)
			}
		}
		return out
	})
}

func TestHostileArchives(t *testing.T) {
	good := archiveOf(t, OCI, Entry{Name: "docker.io/library/box:1", Image: testImage(t)})
	m, _ := testImage(t).Manifest()
	layerPath := blobPath(m.Layers[0].Digest)
	digest, _ := testImage(t).Digest()
	manifestPath := blobPath(digest)
	edit := func(f func([]tarMember) []tarMember) []byte { return rewrite(t, good, f) }
	add := func(h tar.Header, body string) []byte {
		return edit(func(ms []tarMember) []tarMember { return append(ms, tarMember{h, []byte(body)}) })
	}
	change := func(name string, f func(*tarMember)) []byte {
		return edit(func(ms []tarMember) []tarMember {
			for i := range ms {
				if ms[i].hdr.Name == name {
					f(&ms[i])
				}
			}
			return ms
		})
	}
	drop := func(name string) []byte {
		return edit(func(ms []tarMember) []tarMember {
			var out []tarMember
			for _, m := range ms {
				if m.hdr.Name != name {
					out = append(out, m)
				}
			}
			return out
		})
	}
	for _, tc := range []struct {
		name    string
		archive []byte
		maxBlob int64
		want    string
	}{
		{"absolute path", add(tar.Header{Name: "/etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, "x"), 0, "absolute path"},
		{"dot dot", add(tar.Header{Name: "blobs/../../escape", Typeflag: tar.TypeReg, Mode: 0o644}, "x"), 0, `climbs out of the archive with ".."`},
		{"symlink", add(tar.Header{Name: "blobs/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/shadow"}, ""), 0, "is a symbolic link"},
		{"hard link", add(tar.Header{Name: "blobs/hl", Typeflag: tar.TypeLink, Linkname: "index.json"}, ""), 0, "is a hard link"},
		{"device", add(tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, ""), 0, "is a device node"},
		{"huge member", good, 64, "more than image.max_layer_bytes (64)"},
		{"duplicate member", add(tar.Header{Name: "./index.json", Typeflag: tar.TypeReg, Mode: 0o644}, "{}"), 0, "appears twice"},
		{"truncated", good[:len(good)-1024-512-100], 0, "truncated"},
		{"missing blob", drop(layerPath), 0, "is missing"},
		{"manifest digest mismatch", change(manifestPath, func(m *tarMember) { m.body = bytes.Replace(m.body, []byte("mediaType"), []byte("mediaTypf"), 1) }), 0, "does not match its digest"},
		{"blob size mismatch", change(layerPath, func(m *tarMember) { m.body = append(m.body, 0) }), 0, "its descriptor says"},
		{"no name", change("index.json", func(m *tarMember) { m.body = bytes.ReplaceAll(m.body, []byte("docker.io/library/box:1"), []byte("")) }), 0, "has no image name"},
		{"neither format", drop("index.json"), 0, "neither an OCI image layout"},
		{"not a tar", []byte(strings.Repeat("not a tar at all ", 64)), 0, "not a tar archive"},
		{"empty", nil, 0, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readAll(tc.archive, tc.maxBlob)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.tar") {
				t.Fatalf("read = %v, want an error naming x.tar saying %q", err, tc.want)
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Errorf("%v is not ErrInvalid", err)
			}
		})
	}
}

// FuzzOpen: no archive makes Open or Images panic or hang.
func FuzzOpen(f *testing.F) {
	f.Add(archiveOf(f, OCI, Entry{Name: "box:1", Image: testImage(f)}))
	f.Add(archiveOf(f, Docker, Entry{Name: "box:1", Image: testImage(f)}))
	f.Add(dockerWithoutIndex(f)) // reaches manifest.json, which the others' index.json hides
	f.Fuzz(func(_ *testing.T, b []byte) {
		entries, err := readAll(b, 1<<20)
		if err != nil {
			return
		}
		for _, e := range entries {
			_, _ = e.Image.Digest()
			_, _ = e.Image.Layers()
		}
	})
}

// A name whose descriptor is a multi-platform index (docker's containerd
// image store saves such archives, with one platform's blobs) gives the
// platform asked for, if the archive holds it.
func TestNestedIndex(t *testing.T) {
	img := testImage(t)
	digest, _ := img.Digest()
	raw, _ := img.RawManifest()
	nested, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{
		{MediaType: types.OCIManifestSchema1, Size: 1234, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}, Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}},
		{MediaType: types.OCIManifestSchema1, Size: int64(len(raw)), Digest: digest, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}},
	}})
	nestedDigest, _, _ := v1.SHA256(bytes.NewReader(nested))
	top, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{{MediaType: types.OCIImageIndex, Size: int64(len(nested)), Digest: nestedDigest,
		Annotations: map[string]string{AnnotationContainerName: "docker.io/library/multi:1", AnnotationRefName: "1"}}}})
	archive := rewrite(t, archiveOf(t, OCI, Entry{Name: "x:1", Image: img}), func(ms []tarMember) []tarMember {
		for i := range ms {
			if ms[i].hdr.Name == "index.json" {
				ms[i].body = top
			}
		}
		h := ms[len(ms)-1].hdr
		h.Name = blobPath(nestedDigest)
		return append(ms, tarMember{h, nested})
	})
	a, err := Open(bytes.NewReader(archive), int64(len(archive)), "multi.tar", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Images("")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("entries %+v, want multi:1 alone", got)
	}
	if d, _ := got[0].Image.Digest(); got[0].Name != "docker.io/library/multi:1" || d != digest {
		t.Fatalf("entries %+v (digest %s), want multi:1 as the amd64 manifest %s", got, d, digest)
	}
	if _, err := a.Images("linux/arm64"); !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "has no linux/arm64 image in the archive (it holds: linux/amd64)") {
		t.Fatalf("arm64 from an archive holding amd64 only: %v", err)
	}
}
