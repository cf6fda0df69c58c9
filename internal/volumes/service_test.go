package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/ext4sb"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/store/storetest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// users is the VM service's answer in these tests: volume -> VMs.
type users map[string][]User

func newService(t *testing.T, u users) (*Service, string) {
	t.Helper()
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	layout, st := storetest.Open(t)
	return New(Options{Layout: layout, Store: st, Users: func(_ *store.Tx, name string) []User { return u[name] }}), layout.Volumes()
}

func TestCreateListInspectRemove(t *testing.T) {
	s, dir := newService(t, nil)
	v, err := s.Create(context.Background(), "pgdata", 0)
	if err != nil {
		t.Fatal(err)
	}
	if v.SizeBytes != DefaultVolumeSize || v.Name != "pgdata" {
		t.Fatalf("volume %+v", v)
	}
	if uuid, err := ext4sb.FileUUID(s.Path("pgdata")); err != nil || uuid != v.UUID {
		t.Fatalf("file system UUID %q, %v; record says %q", uuid, err, v.UUID)
	}
	in, err := s.Inspect("pgdata")
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: a 10 GiB volume takes a few MiB until the guest writes.
	if in.Path != filepath.Join(dir, "pgdata", "volume.ext4") || in.AllocatedBytes == 0 || in.AllocatedBytes > 16*units.MiB {
		t.Fatalf("inspect %+v", in)
	}
	if _, err := s.Create(context.Background(), "pgdata", 0); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("second create: %v", err)
	}
	for _, bad := range []struct {
		name string
		size int64
	}{{"-x", 0}, {"a/b", 0}, {"tiny", units.MiB}} {
		if _, err := s.Create(context.Background(), bad.name, bad.size); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("create %q %d: %v; want invalid", bad.name, bad.size, err)
		}
	}
	if vs, err := s.List(); err != nil || len(vs) != 1 || vs[0].UUID != v.UUID {
		t.Fatalf("list %+v, %v", vs, err)
	}
	if err := s.Remove("pgdata"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pgdata")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("files left: %v", err)
	}
	if _, err := s.Get("pgdata"); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "banger volume create pgdata") {
		t.Errorf("get after rm: %v", err)
	}
}

// A volume is refused to a second VM while the first one, which still
// mounts it, holds it; and rm refuses a volume any VM mounts.
func TestClaimsAndUse(t *testing.T) {
	u := users{}
	s, _ := newService(t, u)
	if _, err := s.Create(context.Background(), "data", 32*units.MiB); err != nil {
		t.Fatal(err)
	}
	u["data"] = []User{{ID: "vm1", Name: "web"}, {ID: "vm2", Name: "db"}}
	if _, err := s.Claim("data", "vm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim("data", "vm1"); err != nil {
		t.Fatalf("a VM's own claim again: %v", err)
	}
	_, err := s.Claim("data", "vm2")
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "vm web has it attached") {
		t.Fatalf("claim by a second VM: %v", err)
	}
	if err := s.Remove("data"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "in use by vm web, db") {
		t.Fatalf("rm of a volume in use: %v", err)
	}
	if err := s.Unclaim("data", "vm2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get("data"); v.AttachedTo != "vm1" {
		t.Fatalf("another VM's unclaim released vm1's hold: %+v", v)
	}
	if err := s.UnclaimAll("vm1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim("data", "vm2"); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	// vm2 is removed without releasing (a lost record): its hold is stale.
	u["data"] = []User{{ID: "vm1", Name: "web"}}
	if _, err := s.Claim("data", "vm1"); err != nil {
		t.Fatalf("a stale hold was not taken over: %v", err)
	}
	if err := s.Unclaim("missing", "vm1"); err != nil {
		t.Errorf("unclaim of a missing volume: %v", err)
	}
}

// A crashed create leaves a directory with no record: the inventory
// lists it as an orphan, gc removes it, named volumes stay.
func TestInventoryAndGC(t *testing.T) {
	s, dir := newService(t, nil)
	if _, err := s.Create(context.Background(), "keep", 32*units.MiB); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".new-crashed"), 0o700); err != nil {
		t.Fatal(err)
	}
	inv := s.Inventory()
	if len(inv) != 2 || inv[0] != (Object{Kind: "volume", Name: "keep"}) || !inv[1].Orphan || inv[1].Name != filepath.Join(dir, ".new-crashed") {
		t.Fatalf("inventory %+v", inv)
	}
	got, err := s.GC(true)
	if err != nil || len(got) != 1 {
		t.Fatalf("gc --dry-run: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".new-crashed")); err != nil {
		t.Fatal("a dry run removed something")
	}
	if _, err := s.GC(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".new-crashed")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan left: %v", err)
	}
	if _, err := os.Stat(s.Path("keep")); err != nil {
		t.Errorf("gc took a named volume: %v", err)
	}
}
