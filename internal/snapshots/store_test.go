package snapshots

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func newStore(t *testing.T) (*Store, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	s, err := New(filepath.Join(t.TempDir(), "snapshots"), slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return s, &log
}

// save writes a snapshot of k as a VMM would: files at the pending's
// spec, then Commit.
func save(t *testing.T, s *Store, k Key) Snapshot {
	t.Helper()
	p, err := s.Prepare(k, Origin{Image: "debian:bookworm", VM: "0123456789ab"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, p)
	sn, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

func writeFiles(t *testing.T, p *Pending) {
	t.Helper()
	sp := p.Spec()
	for _, path := range []string{sp.StatePath, sp.MemPath} {
		if path != "" {
			if err := os.WriteFile(path, bytes.Repeat([]byte(filepath.Base(path)), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func memKey() Key {
	k := testKey()
	k.MemoryFile = true
	return k
}

func TestSaveThenLookup(t *testing.T) {
	s, _ := newStore(t)
	k := memKey()
	sn := save(t, s, k)
	if sn.ID != k.ID() || sn.Dir != filepath.Join(s.Dir(), k.ID()) {
		t.Fatalf("snapshot %s in %s, want %s in the store", sn.ID, sn.Dir, k.ID())
	}
	// Commit hashed the files: the first Lookup need not hash them again.
	for _, f := range sn.Files {
		if st, err := stampOf(sn.Path(f.Name)); err == nil && !s.wasVerified(sn.Path(f.Name), st) {
			t.Errorf("%s: Commit hashed it, but Lookup would hash it again", f.Name)
		}
	}
	got, ok, _ := s.Lookup(k)
	if !ok {
		t.Fatal("Lookup missed a snapshot just saved")
	}
	if len(got.Files) != 2 || got.SizeBytes != int64(len("state")*1000+len("memory")*1000) || got.Origin.Image != "debian:bookworm" {
		t.Fatalf("Lookup = %+v", got)
	}
	r := got.RestoreSpec(true)
	if r.StatePath != got.Path(StateFile) || r.MemPath != got.Path(MemoryFile) || !r.Resume {
		t.Fatalf("RestoreSpec = %+v", r)
	}
	other := k
	other.CPUs = 1
	if _, ok, _ := s.Lookup(other); ok {
		t.Fatal("Lookup found a snapshot for another key")
	}
	// Without a memory file, the spec names only the state.
	k2 := testKey()
	if sn2 := save(t, s, k2); len(sn2.Files) != 1 || sn2.RestoreSpec(false).MemPath != "" {
		t.Fatalf("a state-only snapshot: %+v", sn2)
	}
}

// Until Commit, nothing but gc can see a save: not Lookup, not List;
// and the inventory knows it is in use.
func TestPendingIsInvisibleUntilCommit(t *testing.T) {
	s, _ := newStore(t)
	k := memKey()
	p, err := s.Prepare(k, Origin{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Prepare created %s (the caller records it first): %v", p.Dir, err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, p)
	if _, ok, _ := s.Lookup(k); ok {
		t.Fatal("Lookup found an uncommitted snapshot")
	}
	if l, _ := s.List(); len(l) != 0 {
		t.Fatalf("List = %v before Commit", l)
	}
	if objs := s.Inventory(); len(objs) != 0 {
		t.Fatalf("Inventory = %v: a save in progress is neither a snapshot nor an orphan", objs)
	}
	if _, err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary directory is still there after Commit: %v", err)
	}
}

// A file the VMM did not write fails the save and leaves nothing.
func TestCommitWithoutFilesLeavesNothing(t *testing.T) {
	s, _ := newStore(t)
	p, err := s.Prepare(memKey(), Origin{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Spec().StatePath, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(); err == nil || !strings.Contains(err.Error(), MemoryFile) {
		t.Fatalf("Commit without the memory file = %v", err)
	}
	if entries, _ := os.ReadDir(s.Dir()); len(entries) != 0 {
		t.Fatalf("a failed save left %v", entries)
	}
}

// Two first boots of one key both save; one snapshot stays, no
// temporary directory is left.
func TestConcurrentSavesOfOneKey(t *testing.T) {
	s, _ := newStore(t)
	k := memKey()
	a, _ := s.Prepare(k, Origin{VM: "a"})
	b, _ := s.Prepare(k, Origin{VM: "b"})
	for _, p := range []*Pending{a, b} {
		if err := p.Create(); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, p)
	}
	if _, err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	sn, err := b.Commit()
	if err != nil || sn.Origin.VM != "a" {
		t.Fatalf("the second Commit = %+v, %v; want the first's snapshot", sn.Origin, err)
	}
	if entries, _ := os.ReadDir(s.Dir()); len(entries) != 1 {
		t.Fatalf("store holds %v, want one snapshot", entries)
	}
}

// A damaged snapshot is never handed out: Lookup removes it and warns.
func TestLookupRemovesDamagedSnapshots(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, sn Snapshot)
	}{
		{"truncated state", func(t *testing.T, sn Snapshot) {
			if err := os.Truncate(sn.Path(StateFile), 100); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing memory", func(t *testing.T, sn Snapshot) {
			if err := os.Remove(sn.Path(MemoryFile)); err != nil {
				t.Fatal(err)
			}
		}},
		{"a byte changed in place", func(t *testing.T, sn Snapshot) {
			f, err := os.OpenFile(sn.Path(MemoryFile), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{'X'}, 10); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
		}},
		{"torn manifest", func(t *testing.T, sn Snapshot) {
			b, _ := os.ReadFile(sn.Path(ManifestFile))
			if err := os.WriteFile(sn.Path(ManifestFile), b[:len(b)/2], 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"no manifest", func(t *testing.T, sn Snapshot) {
			if err := os.Remove(sn.Path(ManifestFile)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, log := newStore(t)
			k := memKey()
			sn := save(t, s, k)
			if _, ok, _ := s.Lookup(k); !ok { // verified once: the damage must still be seen
				t.Fatal("Lookup missed a good snapshot")
			}
			tc.damage(t, sn)
			if _, ok, err := s.Lookup(k); ok || err == nil || !strings.Contains(err.Error(), sn.ID) {
				t.Fatalf("Lookup of a damaged snapshot = %v, %v; want a miss and an error naming it", ok, err)
			}
			if _, err := os.Stat(sn.Dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the damaged snapshot is still there: %v", err)
			}
			if !strings.Contains(log.String(), "damaged") || !strings.Contains(log.String(), sn.ID) {
				t.Fatalf("no warning naming the snapshot: %q", log.String())
			}
			if entries, _ := os.ReadDir(s.Dir()); len(entries) != 0 {
				t.Fatalf("removing it left %v", entries)
			}
		})
	}
}

func TestGetRemoveAndPrune(t *testing.T) {
	s, _ := newStore(t)
	var sns []Snapshot
	for cpus := 1; cpus <= 3; cpus++ {
		k := testKey()
		k.CPUs = cpus
		sns = append(sns, save(t, s, k))
	}
	if _, err := s.Get("xyz"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Get of an unknown id = %v", err)
	}
	if got, err := s.Get(sns[0].ID[:5]); err != nil || got.ID != sns[0].ID {
		t.Fatalf("Get by prefix = %v, %v", got.ID, err)
	}
	if _, err := s.Get(sns[0].ID[:2]); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("Get by a 2-character prefix = %v, want not found", err)
	}
	if rm, err := s.Remove(sns[0].ID); err != nil || rm.ID != sns[0].ID {
		t.Fatalf("Remove = %v, %v", rm.ID, err)
	}
	if _, ok, _ := s.Lookup(sns[0].Key); ok {
		t.Fatal("a removed snapshot is still found")
	}
	pruned, err := s.Prune(false, func(k Key) bool { return k.CPUs == 2 })
	if err != nil || len(pruned) != 1 || pruned[0].ID != sns[1].ID {
		t.Fatalf("Prune of stale = %v, %v", pruned, err)
	}
	if l, _ := s.List(); len(l) != 1 || l[0].ID != sns[2].ID {
		t.Fatalf("after prune, List = %v", l)
	}
	if pruned, err := s.Prune(true, func(Key) bool { return false }); err != nil || len(pruned) != 1 {
		t.Fatalf("Prune --all = %v, %v", pruned, err)
	}
	if entries, _ := os.ReadDir(s.Dir()); len(entries) != 0 {
		t.Fatalf("store holds %v after pruning all", entries)
	}
}

// gc removes what a crash left (a half-written save, a half-done
// removal, a damaged directory) and keeps snapshots and saves in
// progress.
func TestInventoryAndGC(t *testing.T) {
	s, _ := newStore(t)
	good := save(t, s, testKey())
	live, _ := s.Prepare(memKey(), Origin{})
	if err := live.Create(); err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(s.Dir(), tmpPrefix+"0123456789ab-deadbeef0000")
	damaged := filepath.Join(s.Dir(), "0123456789ab")
	for _, d := range []string{crashed, damaged} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	objs := s.Inventory()
	want := map[string]Object{
		good.Dir: {Kind: KindSnapshot, Name: good.Dir},
		crashed:  {Kind: KindDir, Name: crashed, Orphan: true},
		damaged:  {Kind: KindDir, Name: damaged, Orphan: true},
	}
	if len(objs) != len(want) {
		t.Fatalf("Inventory = %v, want %v", objs, want)
	}
	for _, o := range objs {
		if want[o.Name] != o {
			t.Errorf("Inventory has %+v, want %+v", o, want[o.Name])
		}
	}
	if orphans, err := s.GC(true); err != nil || len(orphans) != 2 {
		t.Fatalf("GC dry run = %v, %v", orphans, err)
	}
	if _, err := os.Stat(crashed); err != nil {
		t.Fatal("a dry run removed something")
	}
	if _, err := s.GC(false); err != nil {
		t.Fatal(err)
	}
	for path, gone := range map[string]bool{crashed: true, damaged: true, good.Dir: false, live.Dir: false} {
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) != gone {
			t.Errorf("%s: gone=%v after gc, want %v", path, !gone, gone)
		}
	}
}

// A record names the temporary directory; Discard removes it from the
// path alone, and nothing outside the store's temporary directories.
func TestDiscard(t *testing.T) {
	s, _ := newStore(t)
	p, _ := s.Prepare(memKey(), Origin{})
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(p.Dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Discard left %s", p.Dir)
	}
	good := save(t, s, testKey())
	for _, path := range []string{good.Dir, s.Dir(), filepath.Join(t.TempDir(), tmpPrefix+"x"), filepath.Join(s.Dir(), tmpPrefix+"x", "..", good.ID)} {
		if err := s.Discard(path); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Discard(%s) = %v, want refused", path, err)
		}
	}
	if _, ok, _ := s.Lookup(good.Key); !ok {
		t.Fatal("a refused Discard removed a snapshot")
	}
}
