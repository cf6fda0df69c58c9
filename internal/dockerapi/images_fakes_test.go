package dockerapi

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/bangerdev/banger/internal/imagearchive"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// fakeImageOps is the image catalog as the image endpoints see it:
// records by name, each with a real OCI image (what inspect and the
// Docker id read), the calls it got in order.
type fakeImageOps struct {
	mu    sync.Mutex
	recs  []images.Image
	oci   map[string]v1.Image // by record id
	calls []string
	// inUse names the records a VM uses: Remove refuses them as the
	// catalog does.
	inUse map[string]bool
	// pull is what Pull reports before answering (or failing with pullErr).
	pullEvents []progress.Event
	pullErr    error
	// pullSame answers the record of that name, as a pull of an image
	// the catalog has does.
	pullSame bool
}

func newFakeImageOps() *fakeImageOps {
	return &fakeImageOps{oci: map[string]v1.Image{}, inUse: map[string]bool{}}
}

// testImage is an OCI image of layers random layers with cfg's config.
func testImage(layers int, cfg v1.Config) v1.Image {
	img, err := random.Image(64, int64(layers))
	if err != nil {
		panic(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		panic(err)
	}
	cf = cf.DeepCopy()
	cf.Config, cf.OS, cf.Architecture, cf.Author = cfg, "linux", "amd64", "tester"
	cf.Created = v1.Time{Time: time.Unix(1700000000, 0).UTC()}
	cf.History = nil
	for i := range layers {
		cf.History = append(cf.History, v1.History{CreatedBy: fmt.Sprintf("layer %d", i)}, v1.History{CreatedBy: "ENV x", EmptyLayer: true})
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		panic(err)
	}
	return img
}

// add records img under name (canonical), made by source; id is the
// record's banger id.
func (f *fakeImageOps) add(id, name, source string, img v1.Image) images.Image {
	rec := images.Image{ID: id, Name: name, Source: source, Platform: "linux/amd64", ContentBytes: 1000, Rootfs: "/state/images/" + id + "/rootfs.ext4", Created: time.Unix(1700000500, 0)}
	if img != nil {
		d, _ := img.Digest()
		rec.Digest = d.String()
		f.oci[id] = img
	} else {
		rec.Digest, rec.Source = "sha256:"+strings.Repeat("ab", 32), "import"
		rec.Config = imagepull.Config{Cmd: []string{"sh"}, ExposedPorts: []string{"80/tcp"}}
	}
	f.recs = append(f.recs, rec)
	return rec
}

func (f *fakeImageOps) List() ([]images.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]images.Image(nil), f.recs...), nil
}

// Find resolves as images.Service does: a name, short or canonical, or
// an id prefix of at least four.
func (f *fakeImageOps) Find(ref string) (images.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, nerr := imagepull.NormalizeName(ref)
	for _, r := range f.recs {
		if nerr == nil && r.Name == name {
			return r, nil
		}
	}
	for _, r := range f.recs {
		if len(ref) >= 4 && strings.HasPrefix(r.ID, ref) {
			return r, nil
		}
	}
	return images.Image{}, fmt.Errorf("image %q: %w", ref, errdefs.ErrNotFound)
}

func (f *fakeImageOps) OCI(ref string) (v1.Image, error) {
	rec, err := f.Find(ref)
	if err != nil {
		return nil, err
	}
	if img := f.oci[rec.ID]; img != nil {
		return img, nil
	}
	return nil, fmt.Errorf("image %s: %w: imported", ref, errdefs.ErrUnsupported)
}

func (f *fakeImageOps) Pull(_ context.Context, ref string, opts images.PullOptions, sink progress.Sink) (images.Image, error) {
	f.calls = append(f.calls, "pull "+ref+" "+opts.Platform+" "+user(opts.Keychain))
	for _, e := range f.pullEvents {
		sink.Progress(e)
	}
	if f.pullErr != nil {
		return images.Image{}, f.pullErr
	}
	if rec, err := f.Find(ref); err == nil && f.pullSame {
		sink.Message(ref + " is up to date")
		return rec, nil
	}
	return f.add(fmt.Sprintf("pulled%010d", len(f.recs)), ref, "pull", testImage(1, v1.Config{})), nil
}

func (f *fakeImageOps) Tag(_ context.Context, src, name string) (images.Image, error) {
	f.calls = append(f.calls, "tag "+src+" "+name)
	from, err := f.Find(src)
	if err != nil {
		return images.Image{}, err
	}
	canon, err := imagepull.NormalizeTag(name)
	if err != nil {
		return images.Image{}, err
	}
	return f.add(fmt.Sprintf("tag%013d", len(f.recs)), canon, from.Source, f.oci[from.ID]), nil
}

func (f *fakeImageOps) Remove(ref string) error {
	f.calls = append(f.calls, "rm "+ref)
	rec, err := f.Find(ref)
	if err != nil {
		return err
	}
	if f.inUse[rec.ID] {
		return fmt.Errorf("image %s: %w: VM box uses it", rec.Name, errdefs.ErrConflict)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, r := range f.recs {
		if r.ID == rec.ID {
			f.recs = append(f.recs[:i], f.recs[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeImageOps) PushWith(_ context.Context, ref, dest string, opts images.PushOptions, sink progress.Sink) (imagepull.PushResult, error) {
	f.calls = append(f.calls, "push "+ref+" "+dest+" "+user(opts.Keychain))
	rec, err := f.Find(ref)
	if err != nil {
		return imagepull.PushResult{}, err
	}
	sink.Progress(progress.Event{ID: "abc", Action: "push", Current: 5, Total: 10})
	sink.Progress(progress.Event{ID: "abc", Action: "done", Current: 10, Total: 10})
	return imagepull.PushResult{Reference: rec.Name, Digest: rec.Digest, Layers: 1, Uploaded: 1}, nil
}

func (f *fakeImageOps) Save(refs []string) ([]imagearchive.Entry, func(), error) {
	f.calls = append(f.calls, "save "+strings.Join(refs, ","))
	var out []imagearchive.Entry
	for _, ref := range refs {
		img, err := f.OCI(ref)
		if err != nil {
			return nil, func() {}, err
		}
		rec, _ := f.Find(ref)
		out = append(out, imagearchive.Entry{Name: rec.Name, Image: img})
	}
	return out, func() {}, nil
}

func (f *fakeImageOps) Load(_ context.Context, r io.Reader, _ images.LoadOptions, sink progress.Sink) ([]images.Image, error) {
	b, _ := io.ReadAll(r)
	f.calls = append(f.calls, fmt.Sprintf("load %d", len(b)))
	if len(b) == 0 {
		return nil, fmt.Errorf("load: %w: not an archive", errdefs.ErrInvalid)
	}
	sink.Progress(progress.Event{ID: "layer", Action: "done"})
	return []images.Image{f.add("loaded0000000001", "docker.io/library/loaded:1", "load", empty.Image)}, nil
}

func (f *fakeImageOps) Prune(opts images.PruneOptions) (images.PruneReport, error) {
	f.calls = append(f.calls, fmt.Sprintf("prune all=%v", opts.All))
	return images.PruneReport{Images: []images.Image{{ID: "gone", Name: "docker.io/library/old:1"}, {ID: "c", Name: "banger.build/cache:x"}}, BytesFreed: 4096}, nil
}

var _ ImageService = (*fakeImageOps)(nil)

// user is the user name kc gives a registry, "-" for no keychain.
func user(kc authn.Keychain) string {
	if kc == nil {
		return "-"
	}
	reg, _ := name.NewRegistry("registry.example")
	a, err := kc.Resolve(reg)
	if err != nil {
		return err.Error()
	}
	cfg, err := a.Authorization()
	if err != nil {
		return err.Error()
	}
	return "user=" + cfg.Username
}
