package kernels

import (
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/store/storetest"
	"github.com/bangerdev/banger/pkg/progress"
)

// release is the synthetic distro kernel's release.
const release = "6.1.0-9"

// fixture is a kernel catalog on a fresh layout and database, with a fake
// guest agent and a VM-use table standing in for the daemon's VM records.
type fixture struct {
	*Service
	layout paths.Layout
	store  *store.Store
	agent  string // the guest agent file Options.Agent returns

	mu          sync.Mutex
	users       map[string]string // kernel name → the VM booting it
	defaultUser string            // a VM booting whatever is the default
	// events are what the catalog reported: "ACTION NAME VERSION".
	events []string
}

// Publish records a reported event.
func (f *fixture) Publish(e events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, string(e.Action)+" "+e.Name+" "+e.Attributes["version"])
}

func newFixture(t *testing.T, cfg config.Kernel) *fixture {
	t.Helper()
	f := &fixture{users: map[string]string{}}
	f.layout, f.store = storetest.Open(t)
	f.agent = filepath.Join(t.TempDir(), "banger-agent")
	kctest.WriteFile(t, f.agent, []byte("agent v1"))
	f.Service = New(Options{
		Layout: f.layout,
		Config: cfg,
		Store:  f.store,
		Agent:  func() (string, error) { return f.agent, nil },
		InUse: func(_ *store.Tx, k kernelcat.Kernel) string {
			f.mu.Lock()
			defer f.mu.Unlock()
			if vm := f.users[k.Name]; vm != "" {
				return vm
			}
			if k.Default {
				return f.defaultUser
			}
			return ""
		},
		Events: f,
	})
	return f
}

// distroTree writes a synthetic distro kernel (modules and all) and
// returns its directory.
func distroTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	kctest.WriteDistroTree(t, src, release, release)
	return src
}

// importTree imports a synthetic distro kernel as name.
func (f *fixture) importTree(t *testing.T, name string, makeDefault bool) (kernelcat.Kernel, error) {
	t.Helper()
	return f.Import(t.Context(), distroTree(t), ImportOptions{Name: name, Default: makeDefault}, progress.Quiet{})
}

// plant records a kernel named name with an entry directory, as a
// finished import leaves it (without the files a boot needs).
func (f *fixture) plant(t *testing.T, name string, isDefault bool) kernelcat.Kernel {
	t.Helper()
	k := kernelcat.Kernel{Name: name, Version: release, Dir: f.layout.Kernel(name), Vmlinux: filepath.Join(f.layout.Kernel(name), "vmlinux"), Default: isDefault}
	kctest.WriteFile(t, k.Vmlinux, []byte("ELF"))
	if err := f.store.Put(store.Kernels, name, k); err != nil {
		t.Fatal(err)
	}
	return k
}

// stored returns the records as the store holds them, by name.
func (f *fixture) stored(t *testing.T) map[string]kernelcat.Kernel {
	t.Helper()
	ks, err := store.ListAll[kernelcat.Kernel](f.store, store.Kernels)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]kernelcat.Kernel{}
	for _, k := range ks {
		m[k.Name] = k
	}
	return m
}

// defaults lists the names whose Default flag is set, sorted.
func defaults(ks []kernelcat.Kernel) []string {
	var names []string
	for _, k := range ks {
		if k.Default {
			names = append(names, k.Name)
		}
	}
	slices.Sort(names)
	return names
}

// dirs lists the kernel entry directories on disk.
func (f *fixture) dirs(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(f.layout.Kernels())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// scratch lists what imports left in the scratch directory.
func (f *fixture) scratch(t *testing.T) []string {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(f.layout.Tmp(), "kernel-*"))
	return left
}

// sink records what an install reports.
type sink struct {
	mu     sync.Mutex
	events int
	msgs   []string
}

func (s *sink) Progress(progress.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events++
}

func (s *sink) Message(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
}
