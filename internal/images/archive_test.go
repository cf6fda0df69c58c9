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
			entries, _, err := f.Save([]string{"one:1", "two:1"})
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

// Save says what is wrong before the archive's first byte: no image
// named is invalid; a layer gone from the blob cache is not found, names
// the image and the layer, and says to load a loaded image again (there
// may be no registry to pull its name from).
func TestSaveRefusesEarly(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	if _, _, err := f.Save(nil); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("save of nothing: %v, want ErrInvalid", err)
	}
	img, err := f.Store(t.Context(), "loaded:1", smallImage(t), StoreOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.blobPath(t, img.Layers[0])); err != nil {
		t.Fatal(err)
	}
	_, release, err := f.Save([]string{"loaded:1"})
	release()
	for _, want := range []string{"save loaded:1", img.Layers[0], "is missing from the blob cache", "load its archive again"} {
		if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), want) {
			t.Fatalf("save with a layer gone: %v, want ErrNotFound saying %q", err, want)
		}
	}
}
