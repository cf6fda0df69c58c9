package snapshots

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// tmpPrefix starts the name of every directory that is not (yet, or no
// longer) a snapshot: one being written, or one being removed.
const tmpPrefix = ".tmp-"

// minPrefix is the shortest ID prefix a lookup by prefix accepts.
const minPrefix = 3

// Store is the daemon's boot snapshots: one directory per snapshot,
// named by its ID, under one directory.
type Store struct {
	dir string
	log *slog.Logger
	// kind names what the store holds in messages: "snapshot", or
	// "checkpoint" for the checkpoint store (NewCheckpoints).
	kind string

	mu sync.Mutex
	// verified holds the files hashed since the daemon started, by the
	// stamp they had then.
	verified map[string]stamp
	// busy holds the temporary directories this process is writing or
	// removing: gc leaves them alone.
	busy map[string]bool
	// events hears of each snapshot committed and removed.
	events events.Publisher
}

// Option configures a Store.
type Option func(*Store)

// WithEvents reports each snapshot committed (create) and removed (rm,
// prune, found damaged) to p, as type snapshot. Default: none.
func WithEvents(p events.Publisher) Option { return func(s *Store) { s.events = p } }

// New returns the store of the snapshots under dir (created when
// missing).
func New(dir string, log *slog.Logger, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("snapshot store: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: dir, log: log, kind: "snapshot", verified: map[string]stamp{}, busy: map[string]bool{}, events: events.Discard}
	for _, o := range opts {
		o(s)
	}
	s.events = events.Or(s.events)
	return s, nil
}

// emit reports action on the snapshot id.
func (s *Store) emit(action events.Action, id string, o Origin, reason string) {
	attrs := map[string]string{events.AttrVM: o.VM, events.AttrImage: o.Image, events.AttrKernel: o.Kernel}
	if reason != "" {
		attrs[events.AttrReason] = reason
	}
	s.events.Publish(events.Event{Type: events.TypeSnapshot, Action: action, ID: id, Name: id, Attributes: attrs})
}

// NewCheckpoints returns the store of the checkpoints under dir: the
// same atomic, verified store as boot snapshots', whose keys carry a
// checkpoint's name (Key.Checkpoint), found by that name too (Get).
func NewCheckpoints(dir string, log *slog.Logger) (*Store, error) {
	s, err := New(dir, log)
	if err == nil {
		s.kind = "checkpoint"
	}
	return s, err
}

// Dir is the directory the store keeps its snapshots in.
func (s *Store) Dir() string { return s.dir }

// Snapshot is a stored snapshot.
type Snapshot struct {
	Manifest
	// Dir is the snapshot's directory; SizeBytes what its files hold.
	Dir       string
	SizeBytes int64
}

// Path is the path of one of the snapshot's files.
func (s Snapshot) Path(name string) string { return filepath.Join(s.Dir, name) }

// RestoreSpec names the snapshot's files for vmm.Restorer.
func (s Snapshot) RestoreSpec(resume bool) vmm.RestoreSpec {
	r := vmm.RestoreSpec{StatePath: s.Path(StateFile), Resume: resume}
	if s.Key.MemoryFile {
		r.MemPath = s.Path(MemoryFile)
	}
	return r
}

// ReadFile reads one of the snapshot's small files (HostKeyFile).
func (s Snapshot) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(s.Path(name)) //nolint:gosec // a file of the store's own directory
}

func snapshotOf(dir string, m Manifest) Snapshot {
	sn := Snapshot{Manifest: m, Dir: dir}
	for _, f := range m.Files {
		sn.SizeBytes += f.SizeBytes
	}
	return sn
}

// Lookup returns the snapshot of k, its files verified against their
// digests, or false when there is none to use. A snapshot that fails the
// check (a file missing, truncated or changed; a torn manifest) is
// removed, with a warning in the log and the error that says why (for
// the user: the caller boots cold, and the next cold boot saves a good
// one).
func (s *Store) Lookup(k Key) (Snapshot, bool, error) {
	id := k.ID()
	dir := filepath.Join(s.dir, id)
	if _, err := os.Stat(dir); err != nil {
		return Snapshot{}, false, nil
	}
	m, err := readManifest(dir)
	if err == nil && !m.Key.equal(k) {
		return Snapshot{}, false, nil // another key with the same digest prefix; not this one's to remove
	}
	if err == nil {
		err = s.verify(dir, m)
	}
	if _, serr := os.Stat(dir); err != nil && serr != nil {
		return Snapshot{}, false, nil // removed meanwhile (rm, prune, another lookup): not damage
	}
	if err != nil {
		s.log.Warn("a stored "+s.kind+" is damaged: removing it", s.kind, id, "dir", dir, "error", err)
		if rerr := s.removeDir(dir); rerr != nil {
			s.log.Warn("cannot remove a damaged "+s.kind, s.kind, id, "error", rerr)
			return Snapshot{}, false, fmt.Errorf("%s %s is damaged (%w) and could not be removed: %w", s.kind, id, err, rerr)
		}
		s.emit(events.Remove, id, m.Origin, "damaged: "+err.Error())
		return Snapshot{}, false, fmt.Errorf("%s %s is damaged (%w) and was removed", s.kind, id, err)
	}
	return snapshotOf(dir, m), true, nil
}

func (k Key) equal(o Key) bool {
	a, _ := json.Marshal(k)
	b, _ := json.Marshal(o)
	return bytes.Equal(a, b)
}

// List returns the stored snapshots whose manifest reads and whose files
// have their recorded sizes, sorted by ID. It hashes nothing; Lookup
// does, before a snapshot is used.
func (s *Store) List() ([]Snapshot, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", s.kind, err)
	}
	out := []Snapshot{}
	for _, e := range entries {
		if sn, ok := s.readSnapshot(e); ok {
			out = append(out, sn)
		}
	}
	return out, nil
}

// readSnapshot is the entry's snapshot when it is one, whole.
func (s *Store) readSnapshot(e os.DirEntry) (Snapshot, bool) {
	if !e.IsDir() || strings.HasPrefix(e.Name(), tmpPrefix) {
		return Snapshot{}, false
	}
	dir := filepath.Join(s.dir, e.Name())
	m, err := readManifest(dir)
	if err != nil || checkSizes(dir, m) != nil {
		return Snapshot{}, false
	}
	return snapshotOf(dir, m), true
}

// Get finds a snapshot by ID, a checkpoint's name, or unambiguous ID
// prefix (at least 3 characters).
func (s *Store) Get(ref string) (Snapshot, error) {
	all, err := s.List()
	if err != nil {
		return Snapshot{}, err
	}
	var found []Snapshot
	for _, sn := range all {
		if sn.ID == ref || (sn.Key.Checkpoint != "" && sn.Key.Checkpoint == ref) {
			return sn, nil
		}
		if len(ref) >= minPrefix && strings.HasPrefix(sn.ID, ref) {
			found = append(found, sn)
		}
	}
	switch len(found) {
	case 0:
		return Snapshot{}, fmt.Errorf("%s %q: %w; `banger %s ls` lists them", s.kind, ref, errdefs.ErrNotFound, s.kind)
	case 1:
		return found[0], nil
	}
	return Snapshot{}, fmt.Errorf("%w: %q matches several %s ids; give more of it", errdefs.ErrInvalid, ref, s.kind)
}

// Remove deletes a snapshot, found as Get finds it, and returns it. VMs
// restored from it keep running: they hold its files open.
func (s *Store) Remove(ref string) (Snapshot, error) {
	sn, err := s.Get(ref)
	if err != nil {
		return sn, err
	}
	if err := s.removeDir(sn.Dir); err != nil {
		return sn, fmt.Errorf("remove %s %s: %w", s.kind, sn.ID, err)
	}
	s.emit(events.Remove, sn.ID, sn.Origin, "")
	return sn, nil
}

// Prune removes the snapshots stale says no future start can use (their
// image, kernel or agent is gone or changed), or every one with all, and
// returns them.
func (s *Store) Prune(all bool, stale func(Key) bool) ([]Snapshot, error) {
	sns, err := s.List()
	if err != nil {
		return nil, err
	}
	var removed []Snapshot
	var errs []error
	for _, sn := range sns {
		if !all && !stale(sn.Key) {
			continue
		}
		if err := s.removeDir(sn.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s %s: %w", s.kind, sn.ID, err))
			continue
		}
		s.emit(events.Remove, sn.ID, sn.Origin, "pruned")
		removed = append(removed, sn)
	}
	return slices.Clip(removed), errors.Join(errs...)
}

// removeDir takes a snapshot's directory out of the store in one step (a
// rename to a temporary name, so no lookup sees it half deleted), then
// deletes it.
func (s *Store) removeDir(dir string) error {
	tmp, err := os.MkdirTemp(s.dir, tmpPrefix+"rm-"+filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	s.setBusy(tmp, true)
	defer s.setBusy(tmp, false)
	s.forget(dir)
	gone := filepath.Join(tmp, "gone")
	if err := os.Rename(dir, gone); err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(tmp)
}

func (s *Store) setBusy(dir string, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if busy {
		s.busy[dir] = true
	} else {
		delete(s.busy, dir)
	}
}

// forget drops what verify remembers of the files under dir.
func (s *Store) forget(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for path := range s.verified {
		if filepath.Dir(path) == dir {
			delete(s.verified, path)
		}
	}
}
