package commit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/layerdiff"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// fakes plays the VM and image services and the differ, logging calls.
type fakes struct {
	t      *testing.T
	calls  []string
	base   v1.Image
	stored v1.Image
	fail   map[string]error
	// top is the stored image's last layer, uncompressed.
	top []byte
	// lower and upper are what Diff was given.
	lower, upper string
}

func (f *fakes) Get(ref string) (vms.VM, error) {
	f.calls = append(f.calls, "get "+ref)
	if ref != "dev" && ref != "vm1" {
		return vms.VM{}, errdefs.ErrNotFound
	}
	return vms.VM{ID: "vm1", Name: "dev", ImageID: "img1"}, nil
}

func (f *fakes) DiskCopy(_ context.Context, ref, dst string) (vms.DiskInfo, error) {
	f.calls = append(f.calls, "diskcopy "+ref)
	if err := f.fail["diskcopy"]; err != nil {
		return vms.DiskInfo{}, err
	}
	if err := os.WriteFile(dst, []byte("raw disk"), 0o600); err != nil {
		return vms.DiskInfo{}, err
	}
	return vms.DiskInfo{Image: vms.Image{ID: "img1", Name: "docker.io/library/busybox:latest", Rootfs: "/images/img1/rootfs.ext4"}, Running: true, Frozen: time.Millisecond}, nil
}

func (f *fakes) OCI(ref string) (v1.Image, error) {
	f.calls = append(f.calls, "oci "+ref)
	if err := f.fail["oci"]; err != nil {
		return nil, err
	}
	return f.base, nil
}

func (f *fakes) StoreCommit(_ context.Context, name string, img v1.Image, _ progress.Sink) (images.Image, error) {
	f.calls = append(f.calls, "store "+name)
	if err := f.fail["store"]; err != nil {
		return images.Image{}, err
	}
	f.stored = img
	if err := validate.Image(img); err != nil {
		f.t.Errorf("validate: %v", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return images.Image{}, err
	}
	rc, err := layers[len(layers)-1].Uncompressed()
	if err != nil {
		return images.Image{}, err
	}
	defer func() { _ = rc.Close() }()
	if f.top, err = io.ReadAll(rc); err != nil {
		return images.Image{}, err
	}
	d, _ := img.Digest()
	return images.Image{ID: "img2", Name: name, Digest: d.String(), Source: "commit"}, nil
}

// diffTar is the layer the fake differ writes.
var diffTar = rt.MustTar(rt.Dir("etc"), rt.File("etc/motd", "committed\n"), rt.Whiteout("tmp/gone"))

func (f *fakes) diff(_ context.Context, lower, upper string, w io.Writer, _ layerdiff.Options) (layerdiff.Stats, error) {
	f.calls = append(f.calls, "diff")
	f.lower, f.upper = lower, upper
	if b, err := os.ReadFile(upper); err != nil || string(b) != "raw disk" {
		f.t.Errorf("diff of %s: %q, %v; want the disk copy", upper, b, err)
	}
	if err := f.fail["diff"]; err != nil {
		return layerdiff.Stats{}, err
	}
	_, err := w.Write(diffTar)
	return layerdiff.Stats{Added: 1, Changed: 1, Deleted: 1}, err
}

// baseImage is a one-layer image whose layers can be read back.
func baseImage(t *testing.T) v1.Image {
	t.Helper()
	body := rt.MustTar(rt.File("bin/sh", "sh"))
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: plainLayer{l}, History: v1.History{CreatedBy: "base"}})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "A=old"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newFakes(t *testing.T) (*fakes, *Committer) {
	base := baseImage(t)
	f := &fakes{t: t, base: base, fail: map[string]error{}}
	now := time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)
	return f, &Committer{VMs: f, Images: f, Diff: f.diff, TmpDir: t.TempDir(), Now: func() time.Time { return now }}
}

// A commit appends one layer holding the diff to the VM's image, with a
// history entry, the changes in its config, and stores it under the name;
// the result is a valid OCI image and nothing is left in TmpDir.
func TestCommit(t *testing.T) {
	f, c := newFakes(t)
	res, err := c.Commit(t.Context(), "dev", "mine:v1", Options{
		Message: "add motd", Author: "me",
		Changes: []string{`CMD ["cat", "/etc/motd"]`, "ENV A=new B=\"two words\"", "EXPOSE 8080", "LABEL k=v", "WORKDIR /srv", "USER nobody"},
	}, progress.Quiet{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"get dev", "oci img1", "diskcopy vm1", "diff", "store mine:v1"}; !slices.Equal(f.calls, want) {
		t.Errorf("calls %v, want %v", f.calls, want)
	}
	if f.lower != "/images/img1/rootfs.ext4" {
		t.Errorf("diffed against %s, want the image's ext4", f.lower)
	}
	baseLayers, _ := f.base.Layers()
	layers, _ := f.stored.Layers()
	if len(layers) != len(baseLayers)+1 {
		t.Fatalf("%d layers, want %d", len(layers), len(baseLayers)+1)
	}
	top := layers[len(layers)-1]
	if !bytes.Equal(f.top, diffTar) {
		t.Error("the new layer is not the diff")
	}
	if d, _ := top.Digest(); res.Layer != d.String() || res.LayerSize <= 0 {
		t.Errorf("result layer %s (%d bytes), want %s", res.Layer, res.LayerSize, d)
	}
	if mt, _ := top.MediaType(); mt != types.DockerLayer {
		t.Errorf("layer media type %s, want the base manifest's kind", mt)
	}
	cf, err := f.stored.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	h := cf.History[len(cf.History)-1]
	if h.CreatedBy != "banger commit dev" || h.Comment != "add motd" || h.Author != "me" || !h.Created.Equal(time.Date(2026, 12, 7, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("history %+v", h)
	}
	cfg := cf.Config
	if !slices.Equal(cfg.Cmd, []string{"cat", "/etc/motd"}) || !slices.Equal(cfg.Env, []string{"PATH=/bin", "A=new", "B=two words"}) ||
		cfg.WorkingDir != "/srv" || cfg.User != "nobody" || cfg.Labels["k"] != "v" {
		t.Errorf("config %+v", cfg)
	}
	if _, ok := cfg.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v", cfg.ExposedPorts)
	}
	if cf.Author != "me" || !cf.Created.Equal(h.Created.Time) {
		t.Errorf("config author %q created %v", cf.Author, cf.Created)
	}
	if res.Image.Name != "mine:v1" || res.VM != "dev" || res.Parent.ID != "img1" || !res.Running || res.Stats.Deleted != 1 {
		t.Errorf("result %+v", res)
	}
	if left, _ := os.ReadDir(c.TmpDir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	// The base image is untouched.
	if bcf, _ := f.base.ConfigFile(); !slices.Equal(bcf.Config.Cmd, []string{"sh"}) {
		t.Errorf("the base's config changed: %+v", bcf.Config)
	}
}

// A failing step stops the commit there: nothing is stored and nothing
// is left in TmpDir; an invalid --change or name fails before any copy.
func TestCommitFailures(t *testing.T) {
	for _, tc := range []struct {
		name, fail, ref, image string
		changes                []string
		calls                  []string
		is                     error
	}{
		{name: "bad change", changes: []string{"RUN rm -rf /"}, calls: nil, is: errdefs.ErrInvalid},
		{name: "bad name", image: "UPPER:case", calls: nil},
		{name: "no vm", ref: "nope", calls: []string{"get nope"}, is: errdefs.ErrNotFound},
		{name: "image without layers", fail: "oci", calls: []string{"get dev", "oci img1"}, is: errdefs.ErrUnsupported},
		{name: "disk copy", fail: "diskcopy", calls: []string{"get dev", "oci img1", "diskcopy vm1"}, is: errdefs.ErrConflict},
		{name: "diff", fail: "diff", calls: []string{"get dev", "oci img1", "diskcopy vm1", "diff"}, is: errdefs.ErrInvalid},
		{name: "store", fail: "store", calls: []string{"get dev", "oci img1", "diskcopy vm1", "diff", "store mine:v1"}, is: errdefs.ErrExists},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, c := newFakes(t)
			if tc.fail != "" {
				f.fail[tc.fail] = tc.is
			}
			ref, image := "dev", "mine:v1"
			if tc.ref != "" {
				ref = tc.ref
			}
			if tc.image != "" {
				image = tc.image
			}
			_, err := c.Commit(t.Context(), ref, image, Options{Changes: tc.changes}, progress.Quiet{})
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if !slices.Equal(f.calls, tc.calls) {
				t.Errorf("calls %v, want %v", f.calls, tc.calls)
			}
			if f.stored != nil {
				t.Error("an image was stored")
			}
			if left, _ := os.ReadDir(c.TmpDir); len(left) != 0 {
				t.Errorf("left %v", left)
			}
			if tc.fail != "" && !strings.Contains(err.Error(), "dev") && tc.fail != "oci" {
				t.Errorf("the error does not name the VM: %v", err)
			}
		})
	}
}

// The layer's media type follows the base manifest's: an OCI image gets
// an OCI layer.
func TestCommitOCILayerForAnOCIImage(t *testing.T) {
	f, c := newFakes(t)
	f.base = mutateOCI(t, f.base)
	if _, err := c.Commit(t.Context(), "dev", "mine", Options{}, progress.Quiet{}); err != nil {
		t.Fatal(err)
	}
	layers, _ := f.stored.Layers()
	if mt, _ := layers[len(layers)-1].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type %s", mt)
	}
}

func mutateOCI(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	return mutate.ConfigMediaType(img, types.OCIConfigJSON)
}
