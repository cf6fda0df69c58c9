package snapshots

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/events/eventstest"
	"github.com/bangerdev/banger/internal/testutil"
)

// A damaged snapshot that cannot be removed (here: its directory is a
// mount point, which rename refuses) is reported as still there, with
// why, and no remove event is published for it.
func TestLookupSaysWhenADamagedSnapshotStays(t *testing.T) {
	testutil.RequireRoot(t)
	rec := &eventstest.Recorder{}
	s, err := New(filepath.Join(t.TempDir(), "snapshots"), nil, WithEvents(rec))
	if err != nil {
		t.Fatal(err)
	}
	k := memKey()
	sn := save(t, s, k)
	// The mount hides the snapshot's files: Lookup finds no manifest.
	if err := unix.Mount("tmpfs", sn.Dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount a tmpfs on the snapshot: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sn.Dir, unix.MNT_DETACH) })
	_, ok, err := s.Lookup(k)
	if ok || err == nil || !strings.Contains(err.Error(), "could not be removed") || strings.Contains(err.Error(), "was removed") {
		t.Fatalf("Lookup of a damaged snapshot it cannot remove = %v, %v; want an error saying it stays", ok, err)
	}
	if _, serr := os.Stat(sn.Dir); serr != nil {
		t.Fatalf("the snapshot's directory: %v", serr)
	}
	if evs := rec.Of(sn.ID); len(evs) != 1 || evs[0].Action != events.Create {
		t.Errorf("events of a snapshot that was not removed: %+v, want its create only", evs)
	}
}
