package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
)

// startVM starts a created VM and returns its result and fake machine.
func (f *fixture) startVM(name string, mod ...func(*Spec)) (StartResult, *fakeMachine) {
	f.t.Helper()
	vm := f.create(name, mod...)
	res, err := f.s.Start(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	f.h.mu.Lock()
	defer f.h.mu.Unlock()
	return res, f.h.machines[vm.ID]
}

// drive decodes the config drive a VM booted with.
func (f *fixture) drive(id string) bootcfg.Config {
	f.t.Helper()
	fh, err := os.Open(filepath.Join(f.l.VM(id), "config.img"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer func() { _ = fh.Close() }()
	cfg, err := bootcfg.Decode(fh)
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// ownKey is the VM's own agent host key.
func (f *fixture) ownKey(id string) ssh.PublicKey {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.l.VM(id), agentHostKeyFile))
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := agentclient.ParseKey(b)
	if err != nil {
		f.t.Fatal(err)
	}
	return k.PublicKey()
}

func sameKey(a, b ssh.PublicKey) bool {
	return a != nil && b != nil && string(a.Marshal()) == string(b.Marshal())
}

func (f *fixture) snapshotList() []snapshots.Snapshot {
	f.t.Helper()
	l, err := f.snaps.List()
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

// gaveClock says the guest's one apply carried the host's clock, read
// since before.
func gaveClock(g *fakeGuest, before time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.now) == 1 && !g.now[0].Before(before.Add(-time.Second)) && !g.now[0].After(time.Now())
}

// The first start of a shape boots held and cold, is saved, then gets
// its own identity; the second restores that snapshot instead of booting,
// with its own identity applied after. Neither guest serves the VM's own
// host key until its config is applied, and both do after.
func TestFirstStartSavesSecondRestores(t *testing.T) {
	f := newFixture(t, withSnapshots)
	before := time.Now()
	res, m := f.startVM("first")
	if b := res.VM.Boot; b.Mode != BootCold || b.Saved == "" || b.Snapshot != "" {
		t.Fatalf("first start's boot = %+v, want cold and saved", b)
	}
	for _, phase := range []string{"vmm", "agent", "save", "identity"} {
		if _, ok := res.Timings[phase]; !ok {
			t.Errorf("first start: no %s timing: %v", phase, res.Timings)
		}
	}
	if _, ok := res.Timings["restore"]; ok {
		t.Errorf("a cold start timed a restore: %v", res.Timings)
	}
	spec := f.b.specs[0]
	if !strings.Contains(spec.Cmdline, " ro ") || spec.MemoryFile != filepath.Join(spec.RuntimeDir, memoryFileName) {
		t.Errorf("held cold machine: cmdline %q, memory file %q; want ro and RAM in the runtime dir", spec.Cmdline, spec.MemoryFile)
	}
	held := f.drive(res.VM.ID)
	if !held.Hold || held.Hostname != "" || held.Network != nil || held.Main != nil {
		t.Errorf("the config drive is not a held one: %+v", held)
	}
	holdKey, _ := agentclient.ParseKey([]byte(held.SSH.HostKey))
	if sameKey(holdKey.PublicKey(), f.ownKey(res.VM.ID)) {
		t.Error("the held drive serves the VM's own host key")
	}
	if m.guest.isHeld() || len(m.guest.applied) != 1 || !sameKey(m.guest.key, f.ownKey(res.VM.ID)) {
		t.Fatalf("after the start: held %v, %d applies, own key %v", m.guest.isHeld(), len(m.guest.applied), sameKey(m.guest.key, f.ownKey(res.VM.ID)))
	}
	if a := m.guest.applied[0]; a.Hostname != "first" || a.Network == nil || a.Main == nil || a.Hold || slices.Equal(a.EntropySeed, held.EntropySeed) {
		t.Errorf("applied config is not the VM's own (with a seed of its own): %+v", a)
	}
	if !gaveClock(m.guest, before) {
		t.Errorf("the apply did not give the host's clock: %v (the start began %v)", m.guest.now, before)
	}
	if m.paused() {
		t.Error("the machine stayed paused after the save")
	}
	sns := f.snapshotList()
	if len(sns) != 1 || sns[0].ID != res.VM.Boot.Saved || sns[0].Origin.VM != res.VM.ID || !sns[0].Key.MemoryFile {
		t.Fatalf("snapshots after the first start: %+v", sns)
	}
	if k, err := snapshotHostKey(sns[0]); err != nil || !sameKey(k, holdKey.PublicKey()) {
		t.Fatalf("the snapshot's host key is not the hold key: %v", err)
	}
	if rec := readRecord(t, f, res.VM.ID); rec.Snapshot != nil {
		t.Errorf("the save left its record section: %+v", rec.Snapshot)
	}

	f.h.reset()
	before = time.Now()
	res2, m2 := f.startVM("second")
	if b := res2.VM.Boot; b.Mode != BootRestored || b.Snapshot != sns[0].ID || b.Saved != "" {
		t.Fatalf("second start's boot = %+v, want restored from %s", b, sns[0].ID)
	}
	if _, ok := res2.Timings["restore"]; !ok {
		t.Errorf("no restore timing: %v", res2.Timings)
	}
	for _, phase := range []string{"vmm", "save"} {
		if _, ok := res2.Timings[phase]; ok {
			t.Errorf("a restored start timed %s: %v", phase, res2.Timings)
		}
	}
	ops := f.h.log()
	if slices.Contains(ops, "vmm.start") || slices.Contains(ops, "vmm.snapshot") || !slices.Contains(ops, "vmm.restore") {
		t.Errorf("second start ops: %v; want a restore, no boot, no save", ops)
	}
	r := f.b.restores[0]
	if r.StatePath != sns[0].Path(snapshots.StateFile) || r.MemPath != sns[0].Path(snapshots.MemoryFile) || !r.Resume {
		t.Errorf("restore spec = %+v", r)
	}
	if rs := f.b.specs[1]; rs.MemoryFile != "" || rs.Drives[0].Path == spec.Drives[0].Path || rs.NICs[0].Tap != "bg-"+res2.VM.ID {
		t.Errorf("restored machine spec is not this VM's own: %+v", rs)
	}
	if len(m2.guest.applied) != 1 || m2.guest.applied[0].Hostname != "second" || !sameKey(m2.guest.key, f.ownKey(res2.VM.ID)) {
		t.Fatalf("the restored guest did not get its own identity: %+v", m2.guest.applied)
	}
	if !gaveClock(m2.guest, before) {
		t.Errorf("the restored guest kept the snapshot's clock: %v (the start began %v)", m2.guest.now, before)
	}
	if got := f.get("second").Boot; got.Mode != BootRestored {
		t.Errorf("the VM's record says %+v", got)
	}
}

// A restore the VMM refuses removes the snapshot, warns and boots cold
// (held, and saves a good one); what the restore recorded is released.
// A restore that fails for another reason keeps the snapshot.
func TestRestoreFailureBootsCold(t *testing.T) {
	f := newFixture(t, withSnapshots)
	first, _ := f.startVM("first")
	f.h.failOn("vmm.restore", errors.Join(vmm.ErrBadSnapshot, errors.New("bad stream")))
	f.h.reset()
	res, m := f.startVM("second")
	if b := res.VM.Boot; b.Mode != BootCold || b.Saved == "" {
		t.Fatalf("boot = %+v, want a cold boot that saved again", b)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "removed") || !strings.Contains(res.Warnings[0], first.VM.Boot.Saved) {
		t.Errorf("warnings = %q", res.Warnings)
	}
	ops := f.h.log()
	want := []string{"vmm.restore", "snap.remove", "vmm.start", "vmm.snapshot", "agent.apply"}
	if got := slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return !slices.Contains(want, op) && op != "vmm.release" }); !slices.Equal(got, []string{"vmm.restore", "vmm.release", "snap.remove", "vmm.start", "vmm.snapshot", "agent.apply"}) {
		t.Errorf("ops = %v", got)
	}
	if !sameKey(m.guest.key, f.ownKey(res.VM.ID)) || len(f.snapshotList()) != 1 {
		t.Errorf("the cold fallback: own key %v, snapshots %d", sameKey(m.guest.key, f.ownKey(res.VM.ID)), len(f.snapshotList()))
	}

	f.h.failOn("vmm.restore", errors.New("no tap"))
	f.h.reset()
	res3, _ := f.startVM("third")
	if res3.VM.Boot.Mode != BootCold || f.h.did("snap.remove") || len(f.snapshotList()) != 1 {
		t.Errorf("a restore that failed on the host: boot %+v, removed %v, snapshots %d", res3.VM.Boot, f.h.did("snap.remove"), len(f.snapshotList()))
	}
}

// A restored guest whose agent never answers is no failure of the start:
// the VM boots cold instead, the snapshot that made the mute guest goes,
// and the cold boot saves it anew (same key, same id).
func TestMuteRestoredGuestBootsCold(t *testing.T) {
	f := newFixture(t, withSnapshots)
	first, _ := f.startVM("first")
	f.h.failOn("agent.restored", errors.New("handshake: EOF"))
	f.h.reset()
	res, m := f.startVM("second")
	if b := res.VM.Boot; b.Mode != BootCold || b.Saved == "" {
		t.Fatalf("boot = %+v, want a cold boot that saved again", b)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], first.VM.Boot.Saved+" was removed") || !strings.Contains(res.Warnings[0], "did not answer") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	want := []string{"vmm.restore", "vmm.kill", "snap.remove", "vmm.start", "vmm.snapshot", "agent.apply"}
	if got := slices.DeleteFunc(f.h.log(), func(op string) bool { return !slices.Contains(want, op) }); !slices.Equal(got, want) {
		t.Errorf("ops = %v, want %v", got, want)
	}
	if res.VM.State != Running || !m.alive() || len(f.h.running()) != 2 || !sameKey(m.guest.key, f.ownKey(res.VM.ID)) {
		t.Errorf("after the fallback: state %s, machines %v (want first and this one)", res.VM.State, f.h.running())
	}
	if list := f.snapshotList(); len(list) != 1 || list[0].ID != res.VM.Boot.Saved {
		t.Errorf("snapshots %+v, want only the new one", list)
	}
}

// Only a disk made in this start is the image's: a VM started again after
// a stop keeps what its runs wrote, which no snapshot's guest fits (its
// page cache and file system state are the image's) — it boots as
// always, neither restored nor saved, and its files are there.
func TestRestartedVMIsNeverRestored(t *testing.T) {
	f := newFixture(t, withSnapshots)
	f.startVM("first")
	res, _ := f.startVM("web")
	if res.VM.Boot.Mode != BootRestored {
		t.Fatalf("first start of web: %+v, want restored", res.VM.Boot)
	}
	if _, err := f.s.Stop(context.Background(), "web", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	f.h.reset()
	again, err := f.s.Start(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	if b := again.VM.Boot; b.Mode != BootCold || b.Saved != "" || f.h.did("vmm.restore") || f.h.did("vmm.snapshot") || f.h.did("agent.apply") {
		t.Errorf("second start: boot %+v, ops %v; want a plain cold boot", b, f.h.log())
	}
	spec := f.b.specs[len(f.b.specs)-1]
	if !strings.Contains(spec.Cmdline, " rw ") || spec.MemoryFile != "" {
		t.Errorf("second start's machine is held: cmdline %q, memory file %q", spec.Cmdline, spec.MemoryFile)
	}
}

// A save that fails warns; the VM goes on (resumed, its identity
// applied) and no snapshot or temporary directory is left.
func TestSaveFailureLeavesTheVMRunning(t *testing.T) {
	f := newFixture(t, withSnapshots)
	f.h.failOn("vmm.snapshot", errors.New("no space left on device"))
	res, m := f.startVM("web")
	if res.VM.Boot.Mode != BootCold || res.VM.Boot.Saved != "" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "no space") {
		t.Fatalf("boot %+v, warnings %q", res.VM.Boot, res.Warnings)
	}
	if m.paused() || !m.alive() || len(m.guest.applied) != 1 || res.VM.State != Running {
		t.Fatalf("the VM did not go on: paused %v alive %v applies %d state %s", m.paused(), m.alive(), len(m.guest.applied), res.VM.State)
	}
	if entries, _ := os.ReadDir(f.l.Snapshots()); len(entries) != 0 {
		t.Errorf("the store holds %v after a failed save", entries)
	}
	if rec := readRecord(t, f, res.VM.ID); rec.Snapshot != nil {
		t.Errorf("the record names %+v after a failed save", rec.Snapshot)
	}
}

// A VM created --cold neither restores nor saves, even when a snapshot
// of its shape exists; VMs that cannot hold (--init, a shared directory,
// a backend that cannot save, snapshot.boot off) boot as always.
func TestVMsThatDoNotHold(t *testing.T) {
	f := newFixture(t, withSnapshots, func(f *fixture) { f.b.caps.SharedDirs = true })
	f.startVM("seed")
	share := t.TempDir()
	for _, tc := range []struct {
		name string
		mod  func(*Spec)
		svc  func(*Service)
	}{
		{"cold", func(s *Spec) { s.Cold = true }, nil},
		{"init", func(s *Spec) { s.Init = true }, nil},
		{"shared-dir", withMounts(volumes.Mount{Type: volumes.TypeBind, Source: share, Target: "/data"}), nil},
		{"snapshot-boot-off", nil, func(s *Service) { s.SnapshotBoot = false }},
		{"backend-cannot-save", nil, func(*Service) { f.b.caps.Snapshot = false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.svc != nil {
				tc.svc(f.s)
				defer func() { f.s.SnapshotBoot, f.b.caps.Snapshot = true, true }()
			}
			f.h.reset()
			var mods []func(*Spec)
			if tc.mod != nil {
				mods = append(mods, tc.mod)
			}
			res, m := f.startVM(tc.name, mods...)
			for _, op := range []string{"snap.lookup", "vmm.restore", "vmm.snapshot", "agent.apply"} {
				if f.h.did(op) {
					t.Errorf("%s: did %s", tc.name, op)
				}
			}
			if d := f.drive(res.VM.ID); d.Hold || res.VM.Boot.Mode != BootCold || m.guest.isHeld() {
				t.Errorf("%s: held drive %v, boot %+v", tc.name, d.Hold, res.VM.Boot)
			}
			spec := f.b.specs[len(f.b.specs)-1]
			if !strings.Contains(spec.Cmdline, " rw ") || spec.MemoryFile != "" {
				t.Errorf("%s: cmdline %q, memory file %q", tc.name, spec.Cmdline, spec.MemoryFile)
			}
		})
	}
	if n := len(f.snapshotList()); n != 1 {
		t.Errorf("%d snapshots, want the seed's only", n)
	}
}
