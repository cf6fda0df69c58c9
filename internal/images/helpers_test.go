package images

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/store/storetest"
	"github.com/bangerdev/banger/pkg/progress"
)

// fixture is a catalog on a fresh layout and database, with a fake guest
// agent and a VM-use table standing in for the daemon's VM records.
type fixture struct {
	*Service
	layout paths.Layout
	store  *store.Store
	agent  string // the guest agent file Options.Agent returns

	mu    sync.Mutex
	users map[string]string // image id → the VM using it
	// events are what the catalog reported: "TYPE ACTION NAME".
	events []string
}

// Publish records a reported event.
func (f *fixture) Publish(e events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, string(e.Type)+" "+string(e.Action)+" "+e.Name)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{users: map[string]string{}}
	f.layout, f.store = storetest.Open(t)
	f.agent = filepath.Join(t.TempDir(), "banger-agent")
	writeFile(t, f.agent, "agent v1")
	f.Service = New(Options{
		Layout: f.layout,
		Config: config.Default().Image,
		Store:  f.store,
		Agent:  func() (string, error) { return f.agent, nil },
		InUse: func(_ *store.Tx, img Image) string {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.users[img.ID]
		},
		Events: f,
		IsBuildCache: func(name string) bool {
			return strings.HasPrefix(name, "banger.build/cache:")
		},
	})
	return f
}

// use marks image id as used by vm ("" releases it).
func (f *fixture) use(id, vm string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if vm == "" {
		delete(f.users, id)
		return
	}
	f.users[id] = vm
}

// plant records img and gives it a rootfs file, as a finished build does.
func (f *fixture) plant(t *testing.T, img Image) Image {
	t.Helper()
	img.Rootfs = f.layout.ImageRootfs(img.ID)
	img.Created = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	writeFile(t, img.Rootfs, "ext4")
	if err := f.store.Put(store.Images, img.Name, img); err != nil {
		t.Fatal(err)
	}
	return img
}

// imageDirs lists the image directories and build scratch directories on
// disk.
func (f *fixture) imageDirs(t *testing.T) (images, scratch []string) {
	t.Helper()
	entries, err := os.ReadDir(f.layout.Images())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		images = append(images, e.Name())
	}
	scratch, _ = filepath.Glob(filepath.Join(f.layout.Tmp(), scratchPrefix+"*"))
	return images, scratch
}

func (f *fixture) records(t *testing.T) []Image {
	t.Helper()
	imgs, err := store.ListAll[Image](f.store, store.Images)
	if err != nil {
		t.Fatal(err)
	}
	return imgs
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sink records what a build reports.
type sink struct {
	mu     sync.Mutex
	events []progress.Event
	msgs   []string
}

func (s *sink) Progress(e progress.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *sink) Message(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}

func (s *sink) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// pushSmall pushes a one-file image with an entrypoint to reg.
func pushSmall(t *testing.T, reg *rt.Registry, repoTag string) string {
	t.Helper()
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/hostname", "small\n"))},
		rt.WithConfig(v1.Config{Entrypoint: []string{"/bin/app"}, Env: []string{"A=1"}, WorkingDir: "/srv"}))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, repoTag, img)
	return ref
}
