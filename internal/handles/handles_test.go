package handles

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/fsutil"
)

func TestRecordThenCreateThenRelease(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	var mirrored []File
	r, err := Open(p, "vm1", File{}, func(f File) error { mirrored = append(mirrored, f); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Creating(Tap, "bg-vm1", Runtime, nil); err != nil {
		t.Fatal(err)
	}
	// What a daemon killed right now would find on disk.
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Resources) != 1 || f.Resources[0].State != Creating || f.Resources[0].Name != "bg-vm1" {
		t.Fatalf("after Creating the file says %+v", f.Resources)
	}
	if err := r.Created(Tap, "bg-vm1", Runtime, map[string]int{"ifindex": 7}); err != nil {
		t.Fatal(err)
	}
	if err := r.Creating(Disk, "/var/lib/banger/vms/vm1/disk.raw", Persistent, nil); err != nil {
		t.Fatal(err)
	}
	f, _ = Load(p)
	var data struct{ Ifindex int }
	if len(f.Resources) != 2 || f.Resources[0].State != Created || json.Unmarshal(f.Resources[0].Data, &data) != nil || data.Ifindex != 7 {
		t.Fatalf("after Created the file says %+v", f.Resources)
	}
	if got := f.Find(Disk); len(got) != 1 || got[0].Scope != Persistent {
		t.Fatalf("Find(Disk) = %+v", got)
	}
	if len(mirrored) != 3 || len(mirrored[2].Resources) != 2 {
		t.Fatalf("mirror saw %d states", len(mirrored))
	}

	// A restarted daemon continues from the file.
	r2, err := Open(p, "vm1", File{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r2.Snapshot().Resources) != 2 {
		t.Fatalf("reopened recorder lost resources: %+v", r2.Snapshot())
	}
	if err := r2.Remove(); err == nil {
		t.Fatal("Remove with resources held must fail")
	}
	for _, res := range r2.Snapshot().Resources {
		if err := r2.Released(res.Kind, res.Name); err != nil {
			t.Fatal(err)
		}
	}
	if err := r2.Released(Tap, "never-there"); err != nil {
		t.Fatal(err)
	}
	if err := r2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("handles.json not removed: %v", err)
	}
}

func TestCorruptFileFallsBackToMirror(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte(`{"version":1,"vm_id":"vm1","resources":[{"kind":"tap"`), 0o600); err != nil {
		t.Fatal(err)
	}
	base := File{Resources: []Resource{{Kind: Tap, Name: "bg-vm1", Scope: Runtime, State: Created}}}
	r, err := Open(p, "vm1", base, nil)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want ErrCorrupt, got %v", err)
	}
	if got := r.Snapshot().Find(Tap); len(got) != 1 || got[0].Name != "bg-vm1" {
		t.Fatalf("corrupt file: recorder must start from the mirror, got %+v", r.Snapshot())
	}
	// A file of another VM is not ours either.
	if err := fsutil.WriteAtomic(p, []byte(`{"version":1,"vm_id":"other","resources":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, "vm1", base, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("foreign file: want ErrCorrupt, got %v", err)
	}
}

func TestFailedWriteKeepsState(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", FileName) // parent missing: every write fails
	r, err := Open(p, "vm1", File{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Creating(Tap, "bg-vm1", Runtime, nil); err == nil {
		t.Fatal("write into a missing directory must fail")
	}
	if n := len(r.Snapshot().Resources); n != 0 {
		t.Fatalf("a failed record must not change the state, got %d resources", n)
	}
	failMirror := errors.New("db down")
	r2, _ := Open(filepath.Join(dir, FileName), "vm1", File{}, func(File) error { return failMirror })
	if err := r2.Creating(Tap, "bg-vm1", Runtime, nil); !errors.Is(err, failMirror) {
		t.Fatalf("mirror failure must surface, got %v", err)
	}
}
