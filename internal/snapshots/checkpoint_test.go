package snapshots

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A checkpoint store is the same store: a checkpoint's key carries its
// name (two checkpoints of one machine are two), Get finds it by name, a
// file the caller made (Add) is hashed with the VMM's and verified at
// Lookup, and its errors and inventory kinds name checkpoints. A boot
// key's ID does not change with the field (omitted when empty).
func TestCheckpointStore(t *testing.T) {
	s, err := NewCheckpoints(filepath.Join(t.TempDir(), "checkpoints"), nil)
	if err != nil {
		t.Fatal(err)
	}
	boot := testKey()
	if id := boot.ID(); id != testKey().ID() {
		t.Fatal("unstable key id")
	}
	var sns []Snapshot
	for _, name := range []string{"warm", "cold"} {
		k := testKey()
		k.Checkpoint = name
		if k.ID() == boot.ID() {
			t.Fatalf("checkpoint %s has the boot key's id", name)
		}
		p, err := s.Prepare(k, Origin{VM: "0123456789ab"})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Create(); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, p)
		if err := os.WriteFile(p.Path("disk"), []byte("the disk's clone"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := p.Add("disk"); err != nil {
			t.Fatal(err)
		}
		if err := p.Add("../x"); !errors.Is(err, errdefs.ErrInvalid) || !strings.HasPrefix(err.Error(), "checkpoint ") {
			t.Errorf("Add(../x): %v; want ErrInvalid, naming the checkpoint", err)
		}
		sn, err := p.Commit()
		if err != nil {
			t.Fatal(err)
		}
		sns = append(sns, sn)
	}
	got, err := s.Get("warm")
	if err != nil || got.ID != sns[0].ID {
		t.Fatalf("Get(warm) = %s, %v; want %s", got.ID, err, sns[0].ID)
	}
	if _, err := s.Get("nope"); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "checkpoint ls") {
		t.Errorf("Get(nope): %v", err)
	}
	if len(got.Files) != 2 || got.Files[1].Name != "disk" || got.Files[1].SizeBytes != int64(len("the disk's clone")) {
		t.Errorf("manifest files %+v", got.Files)
	}
	// The disk is verified as the state is.
	if err := os.WriteFile(got.Path("disk"), []byte("the disk's clonX"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Lookup(got.Key); ok || err == nil {
		t.Errorf("Lookup of a checkpoint whose disk changed: ok %v, %v", ok, err)
	}
	if err := s.Discard(got.Dir); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "checkpoint store") {
		t.Errorf("Discard of a checkpoint, not a temporary directory: %v", err)
	}
	if err := os.Mkdir(filepath.Join(s.Dir(), tmpPrefix+"left"), 0o700); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range s.Inventory() {
		kinds[o.Kind]++
	}
	if kinds["checkpoint"] != 1 || kinds["checkpoint-dir"] != 1 || len(kinds) != 2 {
		t.Errorf("inventory kinds %v; want the one checkpoint left and one checkpoint-dir", kinds)
	}
}
