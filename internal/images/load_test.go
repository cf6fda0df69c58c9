package images

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/imagearchive"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/progress"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// A load that fails — a layer whose bytes are not its digest, after a
// good image; an archive that is no archive — records nothing and leaves
// no image, scratch file or blob behind.
func TestLoadFailureLeavesNothing(t *testing.T) {
	requireE2fsprogs(t)
	good, bad := smallImage(t), twoLayers(t)
	var buf bytes.Buffer
	if err := imagearchive.Write(&buf, []imagearchive.Entry{{Name: "good:1", Image: good}, {Name: "bad:1", Image: bad}}, imagearchive.OCI); err != nil {
		t.Fatal(err)
	}
	m, _ := bad.Manifest()
	tampered := flipInBlob(t, buf.Bytes(), m.Layers[1].Digest.Hex)
	for _, tc := range []struct {
		name, want string
		archive    []byte
	}{
		{"layer digest mismatch", "does not match its digest", tampered},
		{"not an archive", "not a tar archive", bytes.Repeat([]byte("nope "), 300)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.Load(t.Context(), bytes.NewReader(tc.archive), LoadOptions{Source: "in.tar"}, progress.Quiet{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "in.tar") {
				t.Fatalf("Load = %v, want an error naming in.tar saying %q", err, tc.want)
			}
			dirs, scratch := f.imageDirs(t)
			blobs, _ := filepath.Glob(filepath.Join(f.layout.OCICache(), "blobs", "sha256", "*"))
			if len(dirs) != 0 || len(scratch) != 0 || len(f.records(t)) != 0 || len(blobs) != 0 {
				t.Fatalf("left image dirs %v, scratch %v, %d records, blobs %v", dirs, scratch, len(f.records(t)), blobs)
			}
		})
	}
}

// flipInBlob changes one byte inside blob hex of a tar archive, keeping
// its size.
func flipInBlob(t *testing.T, archive []byte, hex string) []byte {
	t.Helper()
	out := slices.Clone(archive)
	var off int64
	tr := tar.NewReader(&countReader{r: bytes.NewReader(archive), n: &off})
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no blob %s: %v", hex, err)
		}
		if strings.HasSuffix(h.Name, hex) {
			out[off+h.Size/2] ^= 0xff
			return out
		}
	}
}

type countReader struct {
	r io.Reader
	n *int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// An archive that names one image twice records it once and tags it:
// both names share one rootfs.
func TestLoadOneImageTwoNames(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	img := smallImage(t)
	var buf bytes.Buffer
	if err := imagearchive.Write(&buf, []imagearchive.Entry{{Name: "a:1", Image: img}, {Name: "b:2", Image: img}}, imagearchive.Docker); err != nil {
		t.Fatal(err)
	}
	loaded, err := f.Load(t.Context(), &buf, LoadOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || loaded[0].Digest != loaded[1].Digest || loaded[1].Name != "docker.io/library/b:2" {
		t.Fatalf("loaded %+v", loaded)
	}
	a, _ := os.Stat(loaded[0].Rootfs)
	b, _ := os.Stat(loaded[1].Rootfs)
	if !os.SameFile(a, b) {
		t.Error("the second name got a copy of the image, not the first's files")
	}
}

// A load whose later image fails to convert (a layer climbing out of the
// root) takes back the records it made, and keeps an image it found up to
// date.
func TestLoadTakesBackWhatItMade(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	good := smallImage(t)
	evil, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("../../escape", "x"))})
	if err != nil {
		t.Fatal(err)
	}
	archive := func(entries ...imagearchive.Entry) *bytes.Reader {
		var buf bytes.Buffer
		if err := imagearchive.Write(&buf, entries, imagearchive.OCI); err != nil {
			t.Fatal(err)
		}
		return bytes.NewReader(buf.Bytes())
	}
	first, err := f.Load(t.Context(), archive(imagearchive.Entry{Name: "good:1", Image: good}), LoadOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Load(t.Context(), archive(imagearchive.Entry{Name: "good:1", Image: good}, imagearchive.Entry{Name: "new:1", Image: twoLayers(t)},
		imagearchive.Entry{Name: "evil:1", Image: evil}), LoadOptions{Source: "mixed.tar"}, progress.Quiet{})
	if err == nil || !strings.Contains(err.Error(), "load mixed.tar") || !strings.Contains(err.Error(), "evil") {
		t.Fatalf("load = %v, want a conversion error naming mixed.tar and evil", err)
	}
	recs := f.records(t)
	if len(recs) != 1 || recs[0].ID != first[0].ID {
		t.Fatalf("after the failed load: %+v; want only the good image as it was (%s)", recs, first[0].ID)
	}
	if dirs, scratch := f.imageDirs(t); !slices.Equal(dirs, []string{first[0].ID}) || len(scratch) != 0 {
		t.Fatalf("image dirs %v, scratch %v", dirs, scratch)
	}
}
