package images

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// twoLayers is an image of two gzip layers (validate reads only gzip), the second deleting
// a file of the first, with a config that has exposed ports.
func twoLayers(t *testing.T) v1.Image {
	t.Helper()
	l2, err := rt.NewLayer(rt.Gzip, rt.File("srv/new", "second\n").WithMode(0o600).WithOwner(7, 8), rt.Whiteout("srv/old"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.Dir("srv"), rt.File("srv/old", "first\n"), rt.File("srv/kept", "kept\n")), l2},
		rt.WithConfig(v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"B=2"},
			ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}}, Labels: map[string]string{"k": "v"}}))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func rawOf(t *testing.T, img v1.Image) (manifest, config []byte) {
	t.Helper()
	m, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	c, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

// Store records any v1.Image through the pull pipeline, and OCI gives it
// back byte for byte: same manifest and config, layers from the blob
// cache that go-containerregistry's validate accepts.
func TestStoreThenOCI(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	src := twoLayers(t)
	rec, err := f.Store(t.Context(), "built:1", src, StoreOptions{Source: "build"}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := src.Digest()
	if rec.Name != "docker.io/library/built:1" || rec.Source != "build" || rec.Digest != want.String() || len(rec.Layers) != 2 || rec.Platform != "linux/amd64" {
		t.Fatalf("record %+v", rec)
	}
	if !slices.Equal(rec.Config.ExposedPorts, []string{"53/udp", "80/tcp"}) || rec.Config.Labels["k"] != "v" || rec.Config.Cmd[0] != "/bin/sh" {
		t.Fatalf("config %+v", rec.Config)
	}
	im := ext4test.Open(t, rec.Rootfs)
	tree := im.Tree()
	if _, ok := tree["srv/old"]; ok {
		t.Error("srv/old survived the second layer's whiteout")
	}
	if n := tree["srv/new"]; string(im.Cat(n.Ino)) != "second\n" || n.Perm() != 0o600 || n.UID != 7 || n.GID != 8 {
		t.Errorf("srv/new = %q, %+v", im.Cat(n.Ino), n)
	}
	if got := string(im.Cat(tree[".banger/agent"].Ino)); got != "agent v1" {
		t.Errorf("agent %q", got)
	}

	oci, err := f.OCI("built:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(oci); err != nil {
		t.Fatalf("validate.Image(OCI): %v", err)
	}
	wm, wc := rawOf(t, src)
	gm, gc := rawOf(t, oci)
	if !bytes.Equal(gm, wm) || !bytes.Equal(gc, wc) {
		t.Fatalf("OCI gave another manifest or config:\n%s\n%s", gm, gc)
	}
	layers, _ := oci.Layers()
	srcLayers, _ := src.Layers()
	for i := range layers {
		rc, err := layers[i].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		_ = rc.Close()
		if !bytes.Equal(got, srcLayers[i].(*rt.Layer).Blob) {
			t.Errorf("layer %d's blob differs from what was stored", i)
		}
	}
}

// The commit seam: an image from OCI with a layer appended is stored as a
// new image holding both, and its base keeps working.
func TestStoreAppended(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	if _, err := f.Store(t.Context(), "base:1", twoLayers(t), StoreOptions{}, progress.Quiet{}); err != nil {
		t.Fatal(err)
	}
	base, err := f.OCI("base:1")
	if err != nil {
		t.Fatal(err)
	}
	derived, err := mutate.AppendLayers(base, rt.MustLayer(rt.File("srv/added", "third\n"), rt.Whiteout("srv/kept")))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.Store(t.Context(), "derived:1", derived, StoreOptions{Source: "commit"}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := derived.Digest()
	if rec.Digest != want.String() || len(rec.Layers) != 3 || rec.Source != "commit" {
		t.Fatalf("record %+v, want digest %s and 3 layers", rec, want)
	}
	im := ext4test.Open(t, rec.Rootfs)
	tree := im.Tree()
	if _, ok := tree["srv/kept"]; ok || string(im.Cat(tree["srv/added"].Ino)) != "third\n" || string(im.Cat(tree["srv/new"].Ino)) != "second\n" {
		t.Fatalf("derived tree: kept present %v, added %q", ok, im.Cat(tree["srv/added"].Ino))
	}
	again, err := f.OCI("derived:1")
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := again.Digest(); d != want {
		t.Fatalf("OCI(derived) digest %s, want %s", d, want)
	}
	if err := validate.Image(again); err != nil {
		t.Fatal(err)
	}
	if _, err := f.OCI("base:1"); err != nil {
		t.Fatalf("the base broke: %v", err)
	}
}

// A layer whose bytes are not its digest is refused, and nothing is left.
func TestStoreRefusesACorruptLayer(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	l := rt.MustLayer(rt.File("a", "a"))
	bad := &rt.Layer{Blob: append(slices.Clone(l.Blob[:len(l.Blob)-1]), l.Blob[len(l.Blob)-1]^0xff), Media: l.Media, DiffHash: l.DiffHash}
	img, err := rt.NewImage([]v1.Layer{&digestLie{Layer: bad, digest: l}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Store(t.Context(), "bad:1", img, StoreOptions{}, progress.Quiet{})
	if err == nil || !strings.Contains(err.Error(), "load docker.io/library/bad:1") || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("Store = %v, want a digest error naming the image", err)
	}
	if dirs, scratch := f.imageDirs(t); len(dirs) != 0 || len(scratch) != 0 || len(f.records(t)) != 0 {
		t.Fatalf("left image dirs %v, scratch %v, records %d", dirs, scratch, len(f.records(t)))
	}
}

// digestLie serves another layer's bytes under its digest.
type digestLie struct {
	*rt.Layer
	digest *rt.Layer
}

func (d *digestLie) Digest() (v1.Hash, error) { return d.digest.Digest() }

func TestOCIUnsupported(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	f.plant(t, Image{ID: "1111222233334444", Name: "docker.io/library/imported:1", Source: "import"})
	f.plant(t, Image{ID: "5555666677778888", Name: "docker.io/library/old:1", Source: "pull", Digest: "sha256:" + strings.Repeat("a", 64)})
	for ref, want := range map[string]string{"imported:1": "imported from a root file system tarball", "old:1": "pull it again"} {
		if _, err := f.OCI(ref); !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), want) {
			t.Errorf("OCI(%s) = %v, want ErrUnsupported saying %q", ref, err, want)
		}
	}
	// Pulling an image recorded before manifests were kept builds it
	// again instead of calling it up to date.
	reg := rt.Start(t)
	ref := pushSmall(t, reg, "small:1")
	first, err := f.Pull(t.Context(), ref, PullOptions{}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.layout.Image(first.ID), keptManifest)); err != nil {
		t.Fatal(err)
	}
	second, err := f.Pull(t.Context(), ref, PullOptions{}, progress.Quiet{})
	if err != nil || second.ID == first.ID {
		t.Fatalf("second pull = %v, %v: want a rebuild", second.ID, err)
	}
	oci, err := f.OCI(ref)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := oci.Digest(); d.String() != second.Digest {
		t.Fatalf("OCI digest %s, record %s", d, second.Digest)
	}
}
