package images

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// cacheName is a build cache entry's name (imagebuild.CacheName's form).
func cacheName(c byte) string { return "banger.build/cache:" + strings.Repeat(string(c), 64) }

// scene is prune's scene: what a user who built, tagged and ran has.
type scene struct {
	base, tag, cache, usedCache, used Image
	// blobs of each: base's layer (shared by tag and both cache images),
	// cache's and usedCache's own layers, used's layer, and a stray blob
	// no image names (a pull that failed after its fetch).
	baseBlob, cacheBlob, usedCacheBlob, usedBlob, stray string
	steps                                               []string
}

func layerDigest(t *testing.T, l v1.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// storeOn records base plus one layer holding file under name.
func storeOn(t *testing.T, f *fixture, base, name, file string) (Image, string) {
	t.Helper()
	oci, err := f.OCI(base)
	if err != nil {
		t.Fatal(err)
	}
	l := rt.MustLayer(rt.File(file, file+"\n"))
	img, err := mutate.AppendLayers(oci, l)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.Store(t.Context(), name, img, StoreOptions{Source: "build"}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	return rec, layerDigest(t, l)
}

func newScene(t *testing.T, f *fixture) scene {
	t.Helper()
	var c scene
	var err error
	baseLayer := rt.MustLayer(rt.File("etc/os", "base\n"))
	baseImg, err := rt.NewImage([]v1.Layer{baseLayer})
	if err != nil {
		t.Fatal(err)
	}
	if c.base, err = f.Store(t.Context(), "base:1", baseImg, StoreOptions{}, progress.Quiet{}); err != nil {
		t.Fatal(err)
	}
	c.baseBlob = layerDigest(t, baseLayer)
	if c.tag, err = f.Tag(t.Context(), "base:1", "mytag:1"); err != nil {
		t.Fatal(err)
	}
	c.cache, c.cacheBlob = storeOn(t, f, "base:1", cacheName('a'), "step-a")
	c.usedCache, c.usedCacheBlob = storeOn(t, f, "base:1", cacheName('b'), "step-b")
	c.used, c.usedBlob = storeOn(t, f, "base:1", "app:1", "app")
	f.use(c.usedCache.ID, "builder-vm")
	f.use(c.used.ID, "web")

	cache, err := f.blobCache()
	if err != nil {
		t.Fatal(err)
	}
	stray := []byte("a layer no image names")
	c.stray = digestOf(stray)
	if err := cache.Put(c.stray, int64(len(stray)), opener(stray), nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{strings.Repeat("c", 64) + ".tar", strings.Repeat("d", 64) + ".done"} {
		p := filepath.Join(f.layout.BuildCache(), n)
		writeFile(t, p, strings.Repeat("x", 5000))
		c.steps = append(c.steps, p)
	}
	return c
}

// blocks is the disk space of the files named.
func blocks(t *testing.T, paths ...string) int64 {
	t.Helper()
	var n int64
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Sys().(*syscall.Stat_t).Blocks * 512
	}
	return n
}

// filesOf lists the regular files under dir.
func filesOf(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) blobPath(t *testing.T, d string) string {
	t.Helper()
	h, err := blobcache.ParseDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(f.layout.OCICache(), "blobs", "sha256", h)
}

// state is everything prune may change: records, image files, blobs,
// step files.
func (f *fixture) state(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, img := range f.records(t) {
		out = append(out, "record "+img.Name+" "+img.ID)
	}
	for _, dir := range []string{f.layout.Images(), f.layout.OCICache(), f.layout.BuildCache()} {
		out = append(out, filesOf(t, dir)...)
	}
	return out
}

func names(imgs []Image) []string {
	var out []string
	for _, img := range imgs {
		out = append(out, img.Name)
	}
	return out
}

// The default prune removes exactly the build cache no VM uses, the blobs
// only it named and stray blobs; the bytes are the blocks those files
// held; a dry run says the same and changes nothing; a second prune finds
// nothing.
func TestPruneDefault(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	c := newScene(t, f)
	want := PruneReport{
		Images:    []Image{c.cache},
		Blobs:     sortedStrings(c.cacheBlob, c.stray),
		StepFiles: 2,
		BytesFreed: blocks(t, filesOf(t, f.layout.Image(c.cache.ID))...) +
			blocks(t, f.blobPath(t, c.cacheBlob), f.blobPath(t, c.stray)) + blocks(t, c.steps...),
	}
	if want.BytesFreed <= 0 {
		t.Fatal("the scene takes no space")
	}
	before := f.state(t)
	dry, err := f.Prune(PruneOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dry, want) {
		t.Fatalf("dry run\n%+v\nwant\n%+v", dry, want)
	}
	if after := f.state(t); !slices.Equal(after, before) {
		t.Fatalf("a dry run changed\n%v\nto\n%v", before, after)
	}

	got, err := f.Prune(PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("prune\n%+v\nwant\n%+v", got, want)
	}
	if left := names(f.records(t)); !slices.Equal(left, sortedStrings(c.base.Name, c.tag.Name, cacheName('b'), c.used.Name)) {
		t.Fatalf("left %v", left)
	}
	if _, err := os.Stat(f.layout.Image(c.cache.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pruned image's files are still there: %v", err)
	}
	if !slices.Contains(f.events, "image remove "+c.cache.Name) {
		t.Errorf("no removal event for the pruned image: %q", f.events)
	}
	for _, d := range []string{c.baseBlob, c.usedCacheBlob, c.usedBlob} {
		if _, err := os.Stat(f.blobPath(t, d)); err != nil {
			t.Errorf("blob %s an image names was removed: %v", d, err)
		}
	}
	// Every remaining image is whole: save reads each layer.
	if _, _, err := f.Save([]string{"mytag:1", "app:1", cacheName('b')}); err != nil {
		t.Fatalf("an image lost a layer: %v", err)
	}
	again, err := f.Prune(PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, PruneReport{}) {
		t.Fatalf("a second prune removed %+v", again)
	}
}

// --all removes every image no VM uses; a tag's ext4 is a hard link to
// its source's, so removing the tag alone frees only its own files.
func TestPruneAll(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	c := newScene(t, f)
	f.use(c.base.ID, "db") // base stays: the tag's ext4 stays linked
	tagDir := f.layout.Image(c.tag.ID)
	got, err := f.Prune(PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got.Images); !slices.Equal(n, sortedStrings(cacheName('a'), c.tag.Name)) {
		t.Fatalf("removed %v, want the unused cache image and the tag", n)
	}
	// The tag's manifest and config are its own; its ext4 is base's.
	if got.StepFiles != 2 || !slices.Equal(got.Blobs, sortedStrings(c.cacheBlob, c.stray)) {
		t.Fatalf("removed blobs %v, %d step files", got.Blobs, got.StepFiles)
	}
	f.use(c.base.ID, "")
	f.use(c.used.ID, "")
	f.use(c.usedCache.ID, "")
	want := blocks(t, filesOf(t, f.layout.Image(c.base.ID))...) + blocks(t, filesOf(t, f.layout.Image(c.used.ID))...) +
		blocks(t, filesOf(t, f.layout.Image(c.usedCache.ID))...) +
		blocks(t, f.blobPath(t, c.baseBlob), f.blobPath(t, c.usedBlob), f.blobPath(t, c.usedCacheBlob))
	if _, err := os.Stat(tagDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the tag's files are still there: %v", err)
	}
	all, err := f.Prune(PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.records(t)) != 0 || all.BytesFreed != want || len(all.Blobs) != 3 {
		t.Fatalf("second --all: %d records left, freed %d want %d, blobs %v", len(f.records(t)), all.BytesFreed, want, all.Blobs)
	}
	if left := filesOf(t, filepath.Join(f.layout.OCICache(), "blobs")); len(left) != 0 {
		t.Fatalf("blobs left: %v", left)
	}
}

// A tag removed while its source stays frees its own small files, not
// the ext4 they share.
func TestPruneFreedBytesOfATag(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	c := newScene(t, f)
	for _, img := range []Image{c.base, c.cache, c.usedCache, c.used} {
		f.use(img.ID, "vm-"+img.ID)
	}
	tagDir := f.layout.Image(c.tag.ID)
	own := blocks(t, filepath.Join(tagDir, keptManifest), filepath.Join(tagDir, keptConfig))
	ext4 := blocks(t, filepath.Join(tagDir, "rootfs.ext4"))
	got, err := f.Prune(PruneOptions{All: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	steps := blocks(t, c.steps...) + blocks(t, f.blobPath(t, c.stray))
	if n := names(got.Images); !slices.Equal(n, []string{c.tag.Name}) || got.BytesFreed != own+steps {
		t.Fatalf("removes %v freeing %d, want only the tag freeing %d (not its shared %d-byte ext4)", n, got.BytesFreed, own+steps, ext4)
	}
}

// --build-cache removes the build cache and the blobs only it named, and
// keeps a stray blob; it and --all exclude each other.
func TestPruneBuildCacheOnly(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	c := newScene(t, f)
	got, err := f.Prune(PruneOptions{BuildCacheOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got.Images); !slices.Equal(n, []string{cacheName('a')}) || !slices.Equal(got.Blobs, []string{c.cacheBlob}) || got.StepFiles != 2 {
		t.Fatalf("removed %v, blobs %v, %d step files", n, got.Blobs, got.StepFiles)
	}
	if _, err := os.Stat(f.blobPath(t, c.stray)); err != nil {
		t.Fatalf("--build-cache removed a blob no build made: %v", err)
	}
	if _, err := f.Prune(PruneOptions{All: true, BuildCacheOnly: true}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("--all --build-cache: %v, want ErrInvalid", err)
	}
}

// A build's lease keeps the images it works from, their blobs and every
// step file until it ends.
func TestPruneKeepsWhatABuildHolds(t *testing.T) {
	requireE2fsprogs(t)
	f := newFixture(t)
	c := newScene(t, f)
	lease := f.BuildLease()
	lease.Keep(c.cache.Name, c.cache.Layers...)
	lease.Keep("mytag:1")
	got, err := f.Prune(PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got.Images); !slices.Equal(n, []string{c.base.Name}) || got.StepFiles != 0 || len(got.Notes) != 1 {
		t.Fatalf("during a build: removed %v, %d step files, notes %q", n, got.StepFiles, got.Notes)
	}
	if !slices.Equal(got.Blobs, []string{c.stray}) {
		t.Fatalf("during a build: removed blobs %v", got.Blobs)
	}
	lease.Release()
	lease.Release() // a second release changes nothing
	got, err = f.Prune(PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := names(got.Images); !slices.Equal(n, []string{cacheName('a')}) || got.StepFiles != 2 || got.Notes != nil {
		t.Fatalf("after the build: removed %v, %d step files, notes %q", n, got.StepFiles, got.Notes)
	}
}

func sortedStrings(s ...string) []string {
	slices.Sort(s)
	return s
}
