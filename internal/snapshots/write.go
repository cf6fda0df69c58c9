package snapshots

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Pending is a snapshot being written: a temporary directory in the
// store that becomes the snapshot at Commit, or goes at Abort.
type Pending struct {
	store  *Store
	key    Key
	origin Origin
	// Dir is the temporary directory. A caller records it (the VM's
	// runtime record) before Create makes it, so a crash between the two
	// leaves a record naming it; Store.Discard removes it from the record
	// alone.
	Dir string
	// extra are the files WriteFile added, which Commit hashes too.
	extra []string
}

// Prepare names a new snapshot's temporary directory; nothing is created
// yet. The directory is marked as this process's, so gc leaves it alone
// until Commit or Abort.
func (s *Store) Prepare(k Key, o Origin) (*Pending, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	p := &Pending{store: s, key: k, origin: o, Dir: filepath.Join(s.dir, tmpPrefix+k.ID()+"-"+hex.EncodeToString(b[:]))}
	s.setBusy(p.Dir, true)
	return p, nil
}

// Create makes the temporary directory.
func (p *Pending) Create() error {
	if err := os.Mkdir(p.Dir, 0o700); err != nil {
		return fmt.Errorf("%s %s: %w", p.store.kind, p.key.ID(), fsutil.NoSpace(err, p.Dir))
	}
	return nil
}

// Spec is where the VMM writes the snapshot (vmm.Snapshotter).
func (p *Pending) Spec() vmm.SnapshotSpec {
	sp := vmm.SnapshotSpec{Type: vmm.SnapshotFull, StatePath: filepath.Join(p.Dir, StateFile)}
	if p.key.MemoryFile {
		sp.MemPath = filepath.Join(p.Dir, MemoryFile)
	}
	return sp
}

// WriteFile adds a small file of the caller's to the snapshot (its
// HostKeyFile); Commit hashes it into the manifest with the VMM's.
func (p *Pending) WriteFile(name string, data []byte) error {
	if err := p.Add(name); err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(filepath.Join(p.Dir, name), data, 0o600); err != nil {
		p.extra = p.extra[:len(p.extra)-1]
		return fmt.Errorf("%s %s: %w", p.store.kind, p.key.ID(), fsutil.NoSpace(err, p.Dir))
	}
	return nil
}

// Path is where a file of the caller's goes in the temporary directory.
func (p *Pending) Path(name string) string { return filepath.Join(p.Dir, name) }

// Add names a file the caller made at Path(name) (a checkpoint's disk
// clone), which Commit hashes into the manifest with the VMM's.
func (p *Pending) Add(name string) error {
	if name == "" || name != filepath.Base(name) || name == ManifestFile {
		return fmt.Errorf("%s %s: %w: file name %q", p.store.kind, p.key.ID(), errdefs.ErrInvalid, name)
	}
	p.extra = append(p.extra, name)
	return nil
}

// Commit hashes the files the VMM wrote, writes the manifest, syncs
// everything and renames the directory into place: from then on Lookup
// finds it. When another save of the same key won the race, its snapshot
// stays and this one goes.
func (p *Pending) Commit() (Snapshot, error) {
	defer p.store.setBusy(p.Dir, false)
	sn, err := p.commit()
	if err != nil {
		_ = os.RemoveAll(p.Dir)
		return Snapshot{}, fmt.Errorf("save %s %s: %w", p.store.kind, p.key.ID(), err)
	}
	return sn, nil
}

func (p *Pending) commit() (Snapshot, error) {
	sp := p.Spec()
	m := Manifest{Format: manifestFormat, ID: p.key.ID(), Key: p.key, Origin: p.origin, Created: time.Now().UTC()}
	paths := []string{sp.StatePath, sp.MemPath}
	for _, name := range p.extra {
		paths = append(paths, filepath.Join(p.Dir, name))
	}
	// The stamps of the files as they were hashed (taken first: a later
	// write is another stamp), so the first Lookup does not hash them again.
	stamps := map[string]stamp{}
	for _, path := range paths {
		if path == "" {
			continue
		}
		st, stErr := stampOf(path)
		f, err := fileOf(path)
		if err != nil {
			return Snapshot{}, err
		}
		m.Files = append(m.Files, f)
		if stErr == nil {
			stamps[f.Name] = st
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Snapshot{}, err
	}
	if err := fsutil.WriteAtomic(filepath.Join(p.Dir, ManifestFile), b, 0o600); err != nil {
		return Snapshot{}, fsutil.NoSpace(err, p.Dir)
	}
	dir := filepath.Join(p.store.dir, m.ID)
	err = os.Rename(p.Dir, dir)
	if errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTEMPTY) {
		_ = os.RemoveAll(p.Dir)
		if sn, ok, _ := p.store.Lookup(p.key); ok {
			return sn, nil
		}
		return Snapshot{}, fmt.Errorf("%w: another %s of the same key is in the way", errdefs.ErrConflict, p.store.kind)
	}
	if err != nil {
		return Snapshot{}, err
	}
	if err := fsutil.SyncDir(p.store.dir); err != nil {
		return Snapshot{}, err
	}
	for name, st := range stamps {
		p.store.remember(filepath.Join(dir, name), st)
	}
	// Not when another save of the key won: that one was reported.
	p.store.emit(events.Create, m.ID, m.Origin, "")
	return snapshotOf(dir, m), nil
}

// fileOf syncs a file the VMM wrote and returns its manifest entry.
func fileOf(path string) (File, error) {
	f, err := os.Open(path) //nolint:gosec // the store's own directory
	if err != nil {
		return File{}, err
	}
	defer func() { _ = f.Close() }()
	if err := f.Sync(); err != nil {
		return File{}, err
	}
	fi, err := f.Stat()
	if err != nil {
		return File{}, err
	}
	sum, err := fsutil.SHA256(path)
	if err != nil {
		return File{}, err
	}
	return File{Name: filepath.Base(path), SizeBytes: fi.Size(), SHA256: sum}, nil
}

// Abort removes the temporary directory and whatever is in it.
func (p *Pending) Abort() error {
	defer p.store.setBusy(p.Dir, false)
	return os.RemoveAll(p.Dir)
}

// Discard removes a temporary directory a record names (a save that a
// crash or a failure cut short), from its path alone. It refuses any
// path that is not one of the store's temporary directories, so a
// damaged record cannot make it remove anything else.
func (s *Store) Discard(dir string) error {
	if filepath.Dir(dir) != s.dir || !strings.HasPrefix(filepath.Base(dir), tmpPrefix) {
		return fmt.Errorf("%w: %s is not a temporary directory of the %s store (%s)", errdefs.ErrInvalid, dir, s.kind, s.dir)
	}
	s.setBusy(dir, false)
	return os.RemoveAll(dir)
}
