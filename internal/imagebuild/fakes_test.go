package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// fakeImages is the catalog: images by name, each "rootfs" a JSON file
// of the image's digest (what the fake VM reads to know its files).
type fakeImages struct {
	t      *testing.T
	dir    string
	mu     sync.Mutex
	byName map[string]fakeImage
	stored []string // names Store recorded, in order
	pulled []string
}

type fakeImage struct {
	img v1.Image
	rec Stored
}

func newFakeImages(t *testing.T) *fakeImages {
	return &fakeImages{t: t, dir: t.TempDir(), byName: map[string]fakeImage{}}
}

func (f *fakeImages) Base(_ context.Context, ref string, _ progressSink) (v1.Image, Stored, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.byName[ref]
	if !ok {
		return nil, Stored{}, fmt.Errorf("pull %s: %w", ref, errdefs.ErrNotFound)
	}
	f.pulled = append(f.pulled, ref)
	return im.img, im.rec, nil
}

func (f *fakeImages) Find(name string) (Stored, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.byName[name]
	if !ok {
		return Stored{}, fmt.Errorf("image %s: %w", name, errdefs.ErrNotFound)
	}
	return im.rec, nil
}

func (f *fakeImages) OCI(name string) (v1.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	im, ok := f.byName[name]
	if !ok {
		return nil, errdefs.ErrNotFound
	}
	return im.img, nil
}

func (f *fakeImages) Store(_ context.Context, name string, img v1.Image, _ progressSink) (Stored, error) {
	d, err := img.Digest()
	if err != nil {
		return Stored{}, err
	}
	// The rootfs is the image's files as a tar, what a VM "boots".
	rootfs := filepath.Join(f.dir, strings.NewReplacer("/", "_", ":", "_").Replace(name)+".tar")
	var buf bytes.Buffer
	rc := mutate.Extract(img)
	if _, err := io.Copy(&buf, rc); err != nil {
		return Stored{}, err
	}
	_ = rc.Close()
	if err := os.WriteFile(rootfs, buf.Bytes(), 0o600); err != nil {
		return Stored{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rec := Stored{Name: name, ID: fmt.Sprintf("id%d", len(f.stored)), Digest: d.String(), Rootfs: rootfs}
	f.byName[name] = fakeImage{img: img, rec: rec}
	f.stored = append(f.stored, name)
	return rec, nil
}

// add puts a base image of files (path -> content) in the catalog.
func (f *fakeImages) add(name string, files map[string]string, cfg v1.Config) {
	f.t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layerOf(f.t, files)})
	if err != nil {
		f.t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.Store(context.Background(), name, img, nil); err != nil {
		f.t.Fatal(err)
	}
	f.stored = nil
}

// layerOf is a layer of regular files (a ".wh." name deletes).
func layerOf(t *testing.T, files map[string]string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(files[n]))
	}
	_ = tw.Close()
	return layerOfTar(t, buf.Bytes())
}

// layerOfTar is the layer of a tar's bytes.
func layerOfTar(t *testing.T, b []byte) v1.Layer {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fakeVMs runs a script per command: its output, exit code and the
// files it writes (content "" deletes).
type fakeVMs struct {
	mu      sync.Mutex
	script  func(RunSpec) (out string, code int, writes map[string]string)
	specs   map[string]RunSpec
	live    map[string]bool
	n       int
	created []RunSpec
	failAt  string // "create", "run", "disk"
}

func newFakeVMs(script func(RunSpec) (string, int, map[string]string)) *fakeVMs {
	return &fakeVMs{script: script, specs: map[string]RunSpec{}, live: map[string]bool{}}
}

func (v *fakeVMs) Create(_ context.Context, spec RunSpec) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.failAt == "create" {
		return "", fmt.Errorf("no boot slot")
	}
	v.n++
	id := fmt.Sprintf("vm%d", v.n)
	v.specs[id], v.live[id] = spec, true
	v.created = append(v.created, spec)
	return id, nil
}

func (v *fakeVMs) Run(_ context.Context, id string, out io.Writer) (int, error) {
	if v.failAt == "run" {
		return 0, fmt.Errorf("the agent went away")
	}
	o, code, _ := v.script(v.specs[id])
	_, _ = io.WriteString(out, o)
	return code, nil
}

// DiskCopy writes the "disk": the writes the command made, as JSON.
func (v *fakeVMs) DiskCopy(_ context.Context, id, dst string) error {
	if v.failAt == "disk" {
		return fmt.Errorf("disk copy: no space left on device")
	}
	_, _, writes := v.script(v.specs[id])
	b, _ := json.Marshal(writes)
	return os.WriteFile(dst, b, 0o600)
}

func (v *fakeVMs) Remove(_ context.Context, id string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.live, id)
	return nil
}

// fakeDiff writes the layer of the "disk"'s writes; lower must be the
// booted image's rootfs.
func fakeDiff(t *testing.T, lowers *[]string) Differ {
	return func(_ context.Context, lower, upper string, w io.Writer) error {
		*lowers = append(*lowers, lower)
		if _, err := os.Stat(lower); err != nil {
			t.Errorf("diff against %s: %v", lower, err)
		}
		b, err := os.ReadFile(upper)
		if err != nil {
			return err
		}
		var writes map[string]string
		if err := json.Unmarshal(b, &writes); err != nil {
			return err
		}
		tw := tar.NewWriter(w)
		names := make([]string, 0, len(writes))
		for n := range writes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			c := writes[n]
			if c == "" {
				dir, base := filepath.Split(n)
				_ = tw.WriteHeader(&tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg})
				continue
			}
			_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(c)), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(c))
		}
		return tw.Close()
	}
}

// sink records the lines a build prints.
type sink struct {
	mu    sync.Mutex
	lines []string
}

func (s *sink) Progress(progressEvent) {}
func (s *sink) Message(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, m)
}
func (s *sink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

type (
	progressSink  = progress.Sink
	progressEvent = progress.Event
)
