package snapshots

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bangerdev/banger/internal/fsutil"
)

// The files of a snapshot's directory.
const (
	ManifestFile = "manifest.json"
	StateFile    = "state"
	MemoryFile   = "memory"
	// HostKeyFile is the public half (an authorized_keys line) of the
	// SSH host key the saved agent serves: a restore pins it for its
	// first connection.
	HostKeyFile = "host_key.pub"
)

// manifestFormat is the manifest's version; another is not read.
const manifestFormat = 1

// Manifest is a snapshot's manifest.json: its key, where it came from and
// the digest of each file. The JSON names are the format.
type Manifest struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Key     Key       `json:"key"`
	Origin  Origin    `json:"origin"`
	Created time.Time `json:"created"`
	Files   []File    `json:"files"`
}

// Origin says what a snapshot was made from, for people: the key is
// what decides.
type Origin struct {
	// Image and Kernel are the catalogs' names at the time.
	Image  string `json:"image,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// VM is the id of the VM whose boot was saved.
	VM string `json:"vm,omitempty"`
}

// File is one file of a snapshot, with its size and sha256.
type File struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"size_bytes"`
	SHA256    string `json:"sha256"`
}

// readManifest reads dir's manifest and checks that it is whole and names
// itself: the directory's name, the format and the key's digest agree.
func readManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile)) //nolint:gosec // the store's own directory
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("manifest: %w", err)
	}
	switch {
	case m.Format != manifestFormat:
		return m, fmt.Errorf("manifest format %d, want %d", m.Format, manifestFormat)
	case m.ID != filepath.Base(dir) || m.Key.ID() != m.ID:
		return m, fmt.Errorf("manifest names snapshot %q (key %s) in directory %s", m.ID, m.Key.ID(), filepath.Base(dir))
	case len(m.Files) == 0:
		return m, errors.New("manifest names no files")
	}
	return m, nil
}

// checkSizes is the cheap check (listings, the inventory): every file is
// there with its recorded size. A truncated file fails it.
func checkSizes(dir string, m Manifest) error {
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil {
			return err
		}
		if fi.Size() != f.SizeBytes {
			return fmt.Errorf("%s: %d bytes, the manifest says %d", f.Name, fi.Size(), f.SizeBytes)
		}
	}
	return nil
}

// verify hashes every file of the manifest and compares. A file whose
// stamp was verified before is not hashed again: hashing a memory-sized
// state file on every start would cost a good part of a cold boot.
func (s *Store) verify(dir string, m Manifest) error {
	if err := checkSizes(dir, m); err != nil {
		return err
	}
	for _, f := range m.Files {
		path := filepath.Join(dir, f.Name)
		st, stErr := stampOf(path)
		if stErr == nil && s.wasVerified(path, st) {
			continue
		}
		sum, err := fsutil.SHA256(path)
		if err != nil {
			return err
		}
		if sum != f.SHA256 {
			return fmt.Errorf("%s: sha256 %s, the manifest says %s", f.Name, sum, f.SHA256)
		}
		if stErr == nil {
			s.remember(path, st)
		}
	}
	return nil
}

// remember records that path, at stamp st, matches its manifest.
func (s *Store) remember(path string, st stamp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.verified[path] = st
}

func (s *Store) wasVerified(path string, st stamp) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.verified[path]
	return ok && v == st
}
