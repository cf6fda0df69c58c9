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
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// checkpoint takes a checkpoint of the running VM ref.
func (f *fixture) checkpoint(ref, name string) Checkpoint {
	f.t.Helper()
	ck, err := f.s.Checkpoint(context.Background(), ref, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return ck
}

// A checkpoint records its temporary directory in the source's record
// before making it; the source is paused for the save and the disk's
// clone, and resumed; the checkpoint holds the state, the disk clone,
// the source's host key and the source's record, all in the manifest.
func TestCheckpointRecordsBeforeCreatingAndResumes(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	vm, m := f.start("src")
	var checked bool
	var recorded *handles.Snapshot
	f.h.onOp = func(op string) {
		if op != "vmm.pause" || recorded != nil {
			return
		}
		checked = true
		rec := readRecord(t, f, vm.ID)
		recorded = rec.Checkpoint
		if recorded == nil || recorded.State != handles.Creating || filepath.Dir(recorded.Dir) != f.l.Checkpoints() {
			t.Errorf("the record when the machine pauses: %+v; want the checkpoint's temporary directory", recorded)
			return
		}
		if _, err := os.Stat(recorded.Dir); err != nil {
			t.Errorf("the recorded directory before the save: %v", err)
		}
	}
	ck := f.checkpoint("src", "ck1")
	f.h.onOp = nil
	if !checked || recorded == nil {
		t.Fatal("the checkpoint never paused the machine")
	}
	if m.paused() || !m.alive() {
		t.Errorf("the source after the checkpoint: paused %v alive %v; want it running", m.paused(), m.alive())
	}
	if got := f.get("src"); got.State != Running {
		t.Errorf("the source's state %s", got.State)
	}
	if ck.Name != "ck1" || ck.Frozen <= 0 || ck.Origin.VM != vm.ID {
		t.Errorf("checkpoint %+v", ck)
	}
	var names []string
	for _, fl := range ck.Files {
		names = append(names, fl.Name)
	}
	if got := strings.Join(names, ","); got != "state,host_key.pub,disk.json,vm.json,disk" {
		t.Errorf("manifest files %s", got)
	}
	if key, err := snapshotHostKey(ck.Snapshot); err != nil || !sameKey(key, f.ownKey(vm.ID)) {
		t.Errorf("the checkpoint's host key is not the source's own: %v", err)
	}
	if rec := readRecord(t, f, vm.ID); rec.Checkpoint != nil {
		t.Errorf("the record still names %+v", rec.Checkpoint)
	}
	// The name is the checkpoint's: a second one of that name is refused.
	if _, err := f.s.Checkpoint(context.Background(), "src", "ck1"); !errors.Is(err, errdefs.ErrExists) {
		t.Errorf("a second checkpoint ck1: %v", err)
	}
}

// Whatever step of a checkpoint fails, the source is resumed, the
// checkpoint's directory goes and the record no longer names it; the
// error names the step.
func TestCheckpointFailureResumesTheSource(t *testing.T) {
	for _, op := range []string{"snap.prepare", "vmm.pause", "vmm.snapshot", "disk.clone"} {
		t.Run(op, func(t *testing.T) {
			f := newFixture(t, withCheckpoints)
			vm, m := f.start("src")
			f.h.failOn(op, errors.New("injected "+op))
			_, err := f.s.Checkpoint(context.Background(), "src", "ck")
			if err == nil || !strings.Contains(err.Error(), "injected "+op) {
				t.Fatalf("checkpoint with %s failing: %v", op, err)
			}
			if m.paused() || !m.alive() {
				t.Errorf("the source: paused %v alive %v", m.paused(), m.alive())
			}
			if rec := readRecord(t, f, vm.ID); rec.Checkpoint != nil {
				t.Errorf("the record names %+v", rec.Checkpoint)
			}
			if ents, _ := os.ReadDir(f.l.Checkpoints()); len(ents) != 0 {
				t.Errorf("the checkpoint store holds %d entries", len(ents))
			}
		})
	}
}

// A VM with volumes, one not running, or one whose backend cannot pause
// is refused, naming why.
func TestCheckpointRefuses(t *testing.T) {
	f := newFixture(t, withCheckpoints, func(f *fixture) { f.b.caps.ExtraDrives = true })
	f.start("vol", withMounts(volumes.Mount{Type: volumes.TypeImage, Source: t.TempDir(), Target: "/data"}))
	if _, err := f.s.Checkpoint(context.Background(), "vol", ""); !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "--mount") {
		t.Errorf("checkpoint of a VM with a volume: %v", err)
	}
	f.create("idle")
	if _, err := f.s.Checkpoint(context.Background(), "idle", ""); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("checkpoint of a created VM: %v", err)
	}
	if ents, _ := os.ReadDir(f.l.Checkpoints()); len(ents) != 0 {
		t.Errorf("the checkpoint store holds %d entries", len(ents))
	}
	np := newFixture(t, withCheckpoints, func(f *fixture) { f.b.caps.Pause = false })
	_, m := np.start("src")
	if _, err := np.s.Checkpoint(context.Background(), "src", ""); !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "cannot pause") {
		t.Errorf("checkpoint of a VM whose backend cannot pause: %v", err)
	}
	if m.paused() || !m.alive() {
		t.Error("the refused checkpoint touched the source")
	}
	if ents, _ := os.ReadDir(np.l.Checkpoints()); len(ents) != 0 {
		t.Errorf("the checkpoint store holds %d entries after a refused checkpoint", len(ents))
	}
}

// A daemon killed in the middle of a checkpoint leaves the source paused
// and a temporary directory its record names: the next daemon adopts the
// VM, discards the directory, resumes the machine, and lists no
// checkpoint.
func TestCrashedCheckpointIsReleased(t *testing.T) {
	f := newFixture(t, withCheckpoints)
	vm, m := f.start("src")
	p, err := f.ckpts.Store.Prepare(testSnapKey(t), snapshots.Origin{VM: vm.ID})
	if err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, f, vm.ID)
	rec.Checkpoint = &handles.Snapshot{State: handles.Creating, Dir: p.Dir}
	if err := rec.Save(); err != nil {
		t.Fatal(err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Spec().StatePath, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.s.Close()
	f.s = f.service() // a restarted daemon
	f.s.Reconcile(context.Background())
	if _, err := os.Stat(p.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the crashed checkpoint's directory is still there: %v", err)
	}
	if rec := readRecord(t, f, vm.ID); rec.Checkpoint != nil {
		t.Errorf("the record still names %+v", rec.Checkpoint)
	}
	if m.paused() {
		t.Error("the source is still paused")
	}
	if got := f.get("src"); got.State != Running {
		t.Errorf("the source's state %s; want running", got.State)
	}
	if l, _ := f.s.ListCheckpoints(); len(l) != 0 {
		t.Errorf("checkpoints: %+v", l)
	}
}
