package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/bangerdev/banger/internal/imagearchive"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// files is an image's tree as "path mode uid:gid content", agent left out.
func files(t *testing.T, rootfs string) []string {
	t.Helper()
	im := ext4test.Open(t, rootfs)
	var out []string
	for p, n := range im.Tree() {
		if strings.HasPrefix(p, ".banger") {
			continue
		}
		line := fmt.Sprintf("%s %o %d:%d", p, n.Perm(), n.UID, n.GID)
		if n.Type() == ext4test.TypeReg {
			line += " " + string(im.Cat(n.Ino))
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

// The round trip the issue asks for: pull → tag → push to a second
// registry → a fresh pull by digest has the same manifest digest and the
// same files.
func TestPullTagPushPullByDigest(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	src, dst := rt.Start(t), rt.Start(t)
	ref, _ := src.Push(t, "app:1", twoLayers(t))
	pulled, err := f.Pull(t.Context(), ref, PullOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	target := dst.Ref("team/app:v2")
	tagged, err := f.Tag(t.Context(), ref, target)
	if err != nil {
		t.Fatal(err)
	}
	if tagged.Digest != pulled.Digest || tagged.ID == pulled.ID || tagged.Source != "pull" {
		t.Fatalf("tag %+v of %+v", tagged, pulled)
	}
	var s sink
	res, err := f.Push(t.Context(), target, "", &s)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != pulled.Digest || res.Reference != target || res.Layers != 2 || res.Uploaded != 2 {
		t.Fatalf("push result %+v, want digest %s to %s, 2 of 2 layers", res, pulled.Digest, target)
	}
	if !slices.ContainsFunc(s.events, func(e progress.Event) bool { return e.Action == "done" && e.Message == "pushed" }) {
		t.Errorf("no per-layer push progress in %+v", s.events)
	}
	// What the registry holds, read by go-containerregistry itself.
	byDigest := dst.Host + "/team/app@" + pulled.Digest
	remoteImg, err := remote.Image(mustRef(t, byDigest))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(remoteImg); err != nil {
		t.Fatalf("validate.Image(pushed): %v", err)
	}
	fresh := newFixture(t)
	again, err := fresh.Pull(t.Context(), byDigest, PullOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != pulled.Digest {
		t.Fatalf("pull by digest: %s, want %s", again.Digest, pulled.Digest)
	}
	if got, want := files(t, again.Rootfs), files(t, pulled.Rootfs); !slices.Equal(got, want) {
		t.Fatalf("files after the round trip\n%q\nwant\n%q", got, want)
	}
	// A second push sends nothing the registry has.
	res, err = f.Push(t.Context(), pulled.Name, target, progress.Quiet{})
	if err != nil || res.Uploaded != 0 {
		t.Fatalf("second push: %+v, %v", res, err)
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Save in either format, remove, load: the same digest, the same files;
// what save wrote is read by go-containerregistry's own readers and
// passes validate.
func TestSaveRemoveLoad(t *testing.T) {
	requireE2fsprogs(t)
	for _, format := range []imagearchive.Format{imagearchive.OCI, imagearchive.Docker} {
		t.Run(string(format), func(t *testing.T) {
			f := newFixture(t)
			first, err := f.Store(t.Context(), "one:1", twoLayers(t), StoreOptions{}, progress.Quiet{})
			if err != nil {
				t.Fatal(err)
			}
			second, err := f.Store(t.Context(), "two:1", smallImage(t), StoreOptions{}, progress.Quiet{})
			if err != nil {
				t.Fatal(err)
			}
			wantFiles := files(t, first.Rootfs)
			entries, err := f.Save([]string{"one:1", "two:1"})
			if err != nil {
				t.Fatal(err)
			}
			var archive bytes.Buffer
			if err := imagearchive.Write(&archive, entries, format); err != nil {
				t.Fatal(err)
			}
			validateArchive(t, archive.Bytes(), format, map[string]string{"one:1": first.Digest, "two:1": second.Digest})
			for _, n := range []string{"one:1", "two:1"} {
				if err := f.Remove(n); err != nil {
					t.Fatal(err)
				}
			}
			loaded, err := f.Load(t.Context(), bytes.NewReader(archive.Bytes()), LoadOptions{Source: "images.tar"}, progress.Quiet{})
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded) != 2 || loaded[0].Name != first.Name || loaded[0].Digest != first.Digest || loaded[1].Digest != second.Digest || loaded[0].Source != "load" {
				t.Fatalf("loaded %+v", loaded)
			}
			if got := files(t, loaded[0].Rootfs); !slices.Equal(got, wantFiles) {
				t.Fatalf("files after load\n%q\nwant\n%q", got, wantFiles)
			}
		})
	}
}

func smallImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/hostname", "small\n"))})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// validateArchive reads an archive save wrote with go-containerregistry:
// the OCI layout (unpacked, as tools that read layouts do) for either
// format, and docker's manifest.json through its tarball reader.
func validateArchive(t *testing.T, archive []byte, format imagearchive.Format, want map[string]string) {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			_ = os.MkdirAll(p, 0o755)
			continue
		}
		b, _ := io.ReadAll(tr)
		writeFile(t, p, string(b))
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate.Index(saved layout): %v", err)
	}
	im, _ := idx.IndexManifest()
	for _, d := range im.Manifests {
		familiar := strings.TrimPrefix(d.Annotations[imagearchive.AnnotationRefName], "docker.io/library/")
		if want[familiar] != d.Digest.String() {
			t.Errorf("index names %s %s; want digests %v", familiar, d.Digest, want)
		}
	}
	if len(im.Manifests) != len(want) {
		t.Errorf("index lists %d images, want %d", len(im.Manifests), len(want))
	}
	_, hasDocker := fileExists(filepath.Join(dir, "manifest.json"))
	if hasDocker != (format == imagearchive.Docker) {
		t.Fatalf("manifest.json present: %v, format %s", hasDocker, format)
	}
	if !hasDocker {
		return
	}
	for tag := range want {
		tg, _ := name.NewTag(tag)
		img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(archive)), nil }, &tg)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(img); err != nil {
			t.Fatalf("validate.Image(docker save's %s): %v", tag, err)
		}
	}
}

func fileExists(p string) (os.FileInfo, bool) {
	fi, err := os.Stat(p)
	return fi, err == nil
}

// A tag shares the image's files; removing either name keeps the other.
func TestTagSharesFiles(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	orig, err := f.Store(t.Context(), "orig:1", twoLayers(t), StoreOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := f.Tag(t.Context(), "orig:1", "copy:2")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(orig.Rootfs)
	b, _ := os.Stat(tagged.Rootfs)
	if !os.SameFile(a, b) || a.Sys().(*syscall.Stat_t).Nlink != 2 {
		t.Fatalf("the tag's rootfs is not the original's file (nlink %d)", a.Sys().(*syscall.Stat_t).Nlink)
	}
	if same, err := f.Tag(t.Context(), "copy:2", "copy:2"); err != nil || same.ID != tagged.ID {
		t.Fatalf("tagging an image with its own name: %+v, %v", same, err)
	}
	if err := f.Remove("orig:1"); err != nil {
		t.Fatal(err)
	}
	oci, err := f.OCI("copy:2")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := oci.Digest(); d.String() != orig.Digest {
		t.Fatalf("the tag's digest %s, want %s", d, orig.Digest)
	}
	if got := files(t, tagged.Rootfs); len(got) == 0 || !slices.Contains(got, "srv/new 600 7:8 second\n") {
		t.Fatalf("the tag's files after removing the original: %q", got)
	}
	if _, err := f.Tag(t.Context(), "nothere", "x:1"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("tag of a missing image: %v", err)
	}
	f.use(tagged.ID, "vm1")
	if _, err := f.Tag(t.Context(), "copy:2", "copy:2b"); err != nil {
		t.Fatalf("tagging an image a VM uses: %v", err)
	}
	if _, err := f.Tag(t.Context(), "copy:2b", "copy:2"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("replacing a name a VM uses: %v", err)
	}
}

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
