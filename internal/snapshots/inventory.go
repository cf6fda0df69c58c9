package snapshots

import (
	"os"
	"path/filepath"

	"github.com/bangerdev/banger/internal/fsutil"
)

// Object is one host object of the store: a snapshot, or a directory
// that is not one (a save or removal a crash cut short, a damaged
// snapshot) and is gc's.
type Object struct {
	Kind, Name string
	Orphan     bool
}

// The kinds of Object of the boot snapshot store; the checkpoint
// store's are "checkpoint" and "checkpoint-dir".
const (
	KindSnapshot = "snapshot"
	KindDir      = "snapshot-dir"
)

// Inventory lists the snapshots and the directories in the store that
// are not snapshots. A temporary directory this process is writing or
// removing is neither: it is in use.
func (s *Store) Inventory() []Object {
	entries, _ := os.ReadDir(s.dir)
	var out []Object
	for _, e := range entries {
		path := filepath.Join(s.dir, e.Name())
		if sn, ok := s.readSnapshot(e); ok {
			out = append(out, Object{Kind: s.kind, Name: sn.Dir})
			continue
		}
		s.mu.Lock()
		busy := s.busy[path]
		s.mu.Unlock()
		if !busy {
			out = append(out, Object{Kind: s.kind + "-dir", Name: path, Orphan: true})
		}
	}
	return out
}

// GC removes (unless dryRun) what Inventory says is an orphan and
// returns it; snapshots stay (`banger snapshot prune` removes them).
func (s *Store) GC(dryRun bool) ([]Object, error) {
	return fsutil.RemoveOrphans(s.Inventory(), Object.path, dryRun)
}

// path is the object's directory, when it is an orphan.
func (o Object) path() (string, bool) { return o.Name, o.Orphan }
