package vms

import (
	"errors"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Rename checks the name as create does, refuses one in use, and keeps
// the VM (its id, and a running VM its VMM) as it is.
func TestRename(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	f.create("db")
	for _, tc := range []struct {
		ref, name string
		want      error
	}{
		{"web", "db", errdefs.ErrExists},
		{"web", "web", errdefs.ErrInvalid},
		{"web", "-bad", errdefs.ErrInvalid},
		{"web", "0123456789ab", errdefs.ErrInvalid},
		{"nope", "other", errdefs.ErrNotFound},
	} {
		if _, err := f.s.Rename(tc.ref, tc.name); !errors.Is(err, tc.want) {
			t.Errorf("rename %s → %s: %v, want %v", tc.ref, tc.name, err, tc.want)
		}
	}
	got, err := f.s.Rename("web", "front")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != vm.ID || got.Name != "front" || got.State != Running {
		t.Fatalf("renamed: %+v", got)
	}
	if _, err := f.s.Get("web"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("old name still resolves: %v", err)
	}
	if f.get("front").ID != vm.ID || f.s.live.get(vm.ID) == nil {
		t.Error("the new name does not resolve to the running VM")
	}
	// The old name is free again.
	if _, err := f.s.Rename("db", "web"); err != nil {
		t.Errorf("rename to a freed name: %v", err)
	}
}
