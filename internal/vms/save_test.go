package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmm"
)

// The save records its temporary directory before it makes it: when the
// agent connection closes (the save's first step after recording), the
// record on disk names the directory and the directory does not exist.
func TestSaveRecordsBeforeCreating(t *testing.T) {
	f := newFixture(t, withSnapshots)
	vm := f.create("web")
	var checked bool
	f.h.onOp = func(op string) {
		if op != "agent.close" || checked || !f.h.did("agent.handshake") || f.h.did("vmm.snapshot") {
			return
		}
		checked = true
		rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
		if err != nil || rec.Snapshot == nil || rec.Snapshot.State != handles.Creating {
			t.Errorf("the record at the save's start: %+v, %v; want the snapshot section", rec.Snapshot, err)
			return
		}
		if !strings.HasPrefix(filepath.Base(rec.Snapshot.Dir), ".tmp-") || filepath.Dir(rec.Snapshot.Dir) != f.l.Snapshots() {
			t.Errorf("recorded dir %s is not a temporary directory of the store", rec.Snapshot.Dir)
		}
		if _, err := os.Stat(rec.Snapshot.Dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the directory exists before the record was read: %v", err)
		}
	}
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	f.h.onOp = nil
	if !checked {
		t.Fatal("the save never closed the agent connection")
	}
}

// A record a crashed save left (the section, the directory half
// written) is released from the record alone: reconcile discards the
// directory, clears the section, and no lookup ever used it.
func TestCrashedSaveIsReleased(t *testing.T) {
	f := newFixture(t, withSnapshots)
	vm := f.create("web")
	p, err := f.snaps.Store.Prepare(testSnapKey(t), snapshots.Origin{VM: vm.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Spec().StatePath, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	rec, err := f.s.openRecord(vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.Snapshot = &handles.Snapshot{State: handles.Creating, Dir: p.Dir}
	if err := rec.Save(); err != nil {
		t.Fatal(err)
	}
	f.s = f.service() // a restarted daemon
	f.s.Reconcile(context.Background())
	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed save's directory is still there: %v", err)
	}
	if rec := readRecord(t, f, vm.ID); rec.Snapshot != nil || rec.Running() {
		t.Errorf("the record still names %+v", rec.Snapshot)
	}
	if !f.h.did("snap.discard") {
		t.Error("reconcile did not discard through the store")
	}
	if l := f.snapshotList(); len(l) != 0 {
		t.Errorf("snapshots: %+v", l)
	}
	// A record naming anything but a temporary directory of the store
	// is refused, not obeyed.
	rec = readRecord(t, f, vm.ID)
	rec.Snapshot = &handles.Snapshot{State: handles.Creating, Dir: f.l.VM(vm.ID)}
	if err := rec.Save(); err != nil {
		t.Fatal(err)
	}
	if err := (saveStage{f.s}).Release(context.Background(), &Runtime{VM: vm, Record: rec}); err == nil {
		t.Error("Release removed a directory outside the store")
	}
	if _, err := os.Stat(f.l.VM(vm.ID)); err != nil {
		t.Fatalf("the VM's directory: %v", err)
	}
}

// testSnapKey is a valid key for the fixture's store.
func testSnapKey(t *testing.T) snapshots.Key {
	t.Helper()
	return snapshots.Key{Backend: "fake", ImageDigest: "sha256:img", AgentSHA256: "agent", KernelSHA256: "k1sum",
		CPUs: 1, MemoryMiB: 256, Drives: []snapshots.Drive{{ID: "root", Root: true}}, Daemon: "SHA256:x"}
}

// A damaged snapshot (a truncated state file) is missed with a warning
// for the user, removed, and the VM boots cold and saves a good one.
func TestDamagedSnapshotBootsColdWithAWarning(t *testing.T) {
	f := newFixture(t, withSnapshots)
	first, _ := f.startVM("first")
	sn := f.snapshotList()[0]
	if err := os.Truncate(sn.Path(snapshots.StateFile), 3); err != nil {
		t.Fatal(err)
	}
	res, _ := f.startVM("second")
	if res.VM.Boot.Mode != BootCold || res.VM.Boot.Saved != first.VM.Boot.Saved || f.h.did("vmm.restore") {
		t.Fatalf("boot %+v after a damaged snapshot; want cold, saved again", res.VM.Boot)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "damaged") || !strings.Contains(res.Warnings[0], sn.ID) {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

// A failed restore's handles are released whatever they name — a jail or
// a cgroup recorded before any process or socket too — before the
// section is the vmm stage's beginning again: the cold boot's record
// must not forget what the restore made.
func TestFailedRestoreReleasesWhatItRecorded(t *testing.T) {
	f := newFixture(t, withSnapshots)
	vm := f.create("web")
	rec, err := f.s.openRecord(vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec.VMM = &handles.VMM{State: handles.Creating, Handles: vmm.Handles{Backend: "fake", JailDir: "/srv/jail/web"}}
	if err := rec.Save(); err != nil {
		t.Fatal(err)
	}
	if err := (vmmStage{f.s}).afterFailedRestore(context.Background(), &Runtime{VM: vm, Record: rec, Backend: f.b}); err != nil {
		t.Fatal(err)
	}
	if !f.h.did("vmm.release") {
		t.Error("a restore that recorded only a jail was not released")
	}
	if got := readRecord(t, f, vm.ID).VMM; got == nil || got.State != handles.Creating || got.Handles.JailDir != "" || got.Handles.Backend != "fake" {
		t.Errorf("the vmm section after the failed restore: %+v", got)
	}
}
