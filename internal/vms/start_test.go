package vms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestStartRunsTheStagesAndRecordsEveryResource(t *testing.T) {
	f := newFixture(t)
	vm := f.create("web")
	res, err := f.s.Start(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{"image", "kernel", "backend", "disk", "network", "rundir", "bootcfg", "vmm", "agent"} {
		if _, ok := res.Timings[st]; !ok {
			t.Errorf("no timing for stage %s: %v", st, res.Timings)
		}
	}
	got := f.get("web")
	if got.State != Running || got.Runtime.Tap != "bg-"+vm.ID || got.Runtime.IP != "10.0.0.5" || got.Runtime.PID != os.Getpid() || got.Runtime.VMM != "fake" {
		t.Fatalf("record after start: %+v", got)
	}
	rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Disk == nil || rec.Disk.State != handles.Created || rec.Network == nil || rec.Network.Attach != handles.Created ||
		rec.RunDir == nil || rec.VMM == nil || rec.VMM.State != handles.Created {
		t.Fatalf("runtime record after start: %+v", rec)
	}
	// The order of the pipeline is the order of the host's operations.
	ops := f.h.log()
	order := []string{"disk.create", "net.attach", "vmm.start", "agent.dial", "agent.handshake"}
	last := -1
	for _, op := range order {
		i := slices.Index(ops, op)
		if i <= last {
			t.Fatalf("op %s out of order in %v", op, ops)
		}
		last = i
	}
	if _, err := os.Stat(f.l.VMRuntime(vm.ID)); err != nil {
		t.Errorf("runtime dir: %v", err)
	}
	if _, err := f.s.Start(context.Background(), "web"); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("second start: want ErrConflict, got %v", err)
	}
}

// Every stage writes what it is about to create into the record on disk
// before it creates it: a daemon killed at that instant finds it.
func TestEveryResourceIsRecordedBeforeItIsCreated(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.dm = true; f.b.caps.DiskFormats = []string{"raw"} })
	vm := f.create("web")
	checks := map[string]func(r *handles.Record) bool{
		"disk.activate": func(r *handles.Record) bool { return r.Disk != nil && r.Disk.DM == handles.Creating },
		"net.attach":    func(r *handles.Record) bool { return r.Network != nil && r.Network.Attach == handles.Creating },
		"vmm.start":     func(r *handles.Record) bool { return r.VMM != nil && r.VMM.Handles.Process.PID != 0 },
	}
	seen := map[string]bool{}
	f.h.onOp = func(op string) {
		check, ok := checks[op]
		if !ok {
			return
		}
		seen[op] = true
		rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
		if err != nil || !check(rec) {
			t.Errorf("at %s the record on disk does not name it yet: %+v, %v", op, rec, err)
		}
		if op == "vmm.start" {
			if _, err := os.Stat(f.l.VMRuntime(vm.ID)); err != nil || rec.RunDir == nil {
				t.Errorf("at vmm.start the runtime dir is not recorded and made: %+v %v", rec.RunDir, err)
			}
		}
	}
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(checks) {
		t.Fatalf("checked %v, want all of %v", seen, checks)
	}
}

// A start that fails at any stage releases exactly what the stages before
// it (and its own partial work) acquired, and nothing else; the disk and
// the lease, which outlive a stop, stay for the next start or rm.
func TestFailedStartReleasesExactlyWhatWasAcquired(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		stage  string
		inject func(f *fixture, vm VM)
		// released are the host ops the cleanup must do; never those it
		// must not (resources that were never acquired).
		released, never []string
		diskKept, lease bool
	}{
		{"image", func(f *fixture, _ VM) { f.h.failOn("catalog.image", boom) },
			nil, []string{"disk.create", "net.attach", "net.detach", "vmm.start", "vmm.release", "vmm.kill"}, false, false},
		{"kernel", func(f *fixture, _ VM) { f.h.failOn("catalog.kernel", boom) },
			nil, []string{"disk.create", "net.detach", "vmm.release"}, false, false},
		{"backend", func(f *fixture, _ VM) { f.h.failOn("backend.pick", boom) },
			nil, []string{"disk.create", "net.detach", "vmm.release"}, false, false},
		{"disk", func(f *fixture, _ VM) { f.h.failOn("disk.create", boom) },
			nil, []string{"net.attach", "net.detach", "vmm.start", "vmm.release", "disk.deactivate"}, false, false},
		{"network", func(f *fixture, _ VM) { f.h.failOn("net.attach", boom) },
			[]string{"net.detach"}, []string{"vmm.start", "vmm.release", "disk.deactivate"}, true, true},
		{"rundir", func(f *fixture, _ VM) {
			// A file where the runtime dirs go.
			if err := os.Remove(f.l.VMRuntimes()); err != nil {
				f.t.Fatal(err)
			}
			if err := os.WriteFile(f.l.VMRuntimes(), nil, 0o600); err != nil {
				f.t.Fatal(err)
			}
		}, []string{"net.detach"}, []string{"vmm.start", "vmm.release"}, true, true},
		{"bootcfg", func(f *fixture, vm VM) {
			if err := os.MkdirAll(f.l.VM(vm.ID), 0o700); err != nil {
				f.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.l.VM(vm.ID), agentHostKeyFile), []byte("not a key"), 0o600); err != nil {
				f.t.Fatal(err)
			}
		}, []string{"net.detach"}, []string{"vmm.start", "vmm.release"}, true, true},
		{"vmm", func(f *fixture, _ VM) { f.b.recordThenFail = true },
			[]string{"vmm.release", "net.detach"}, []string{"vmm.kill"}, true, true},
		{"agent", func(f *fixture, _ VM) { f.h.failOn("agent.handshake", boom) },
			[]string{"vmm.kill", "vmm.cleanup", "net.detach"}, []string{"vmm.release"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			f := newFixture(t)
			vm := f.create("web")
			tt.inject(f, vm)
			_, err := f.s.Start(context.Background(), "web")
			var se *stageError
			if !errors.As(err, &se) || se.stage != tt.stage {
				t.Fatalf("start failed with %v, want a failure at stage %s", err, tt.stage)
			}
			for _, op := range tt.released {
				if !f.h.did(op) {
					t.Errorf("cleanup did not %s: %v", op, f.h.log())
				}
			}
			for _, op := range tt.never {
				if f.h.did(op) {
					t.Errorf("did %s, which the failed start never needed: %v", op, f.h.log())
				}
			}
			got := f.get("web")
			if got.State != Failed || got.ErrorPhase != tt.stage || !strings.Contains(got.Error, "vm web: "+tt.stage+": ") {
				t.Errorf("vm after failed start: state %s phase %q error %q", got.State, got.ErrorPhase, got.Error)
			}
			if len(f.h.running()) != 0 || f.h.taps[vm.ID] || f.h.dm[vm.ID] {
				t.Errorf("runtime resources left: machines %v taps %v dm %v", f.h.running(), f.h.taps, f.h.dm)
			}
			if f.h.leases[vm.ID] != tt.lease {
				t.Errorf("lease held %v, want %v", f.h.leases[vm.ID], tt.lease)
			}
			if _, err := os.Stat(rootfs.DiskPath(f.l.VM(vm.ID), rootfs.Copy)); (err == nil) != tt.diskKept {
				t.Errorf("disk file exists %v, want %v", err == nil, tt.diskKept)
			}
			// The console log begins with the VMM: a start that fails
			// before it leaves no log (a full disk leaves only the record).
			_, err = os.Stat(f.s.consoleLog(vm.ID))
			if launched := tt.stage == "vmm" || tt.stage == "agent"; launched != (err == nil) {
				t.Errorf("console log exists %v after a failure at %s", err == nil, tt.stage)
			}
			if tt.stage != "rundir" {
				if _, err := os.Stat(f.l.VMRuntime(vm.ID)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("runtime dir left: %v", err)
				}
			}
			if rec, err := handles.Open(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID); err != nil || rec.Running() {
				t.Errorf("record still names runtime resources: %+v, %v", rec, err)
			}
			// rm takes what stayed.
			if err := f.s.Remove(context.Background(), "web", false); err != nil {
				t.Fatal(err)
			}
			if f.h.leases[vm.ID] {
				t.Error("rm left the lease")
			}
			if _, err := os.Stat(f.l.VM(vm.ID)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("rm left the VM dir: %v", err)
			}
		})
	}
}

func TestDiskIsReusedAcrossStarts(t *testing.T) {
	f := newFixture(t)
	f.create("web")
	for range 2 {
		if _, err := f.s.Start(context.Background(), "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(f.h.log(), "disk.create"); n != 1 {
		t.Fatalf("disk created %d times over two starts", n)
	}
}

// A dm-snapshot disk's devices come up at every start and go at every
// stop; its COW file stays until rm.
func TestDMSnapshotDevicesFollowTheVM(t *testing.T) {
	f := newFixture(t, func(f *fixture) { f.dm = true; f.b.caps.DiskFormats = []string{"raw"} })
	vm := f.create("web")
	for i := range 2 {
		if _, err := f.s.Start(context.Background(), "web"); err != nil {
			t.Fatal(err)
		}
		if !f.h.dm[vm.ID] {
			t.Fatalf("start %d: dm devices not up", i)
		}
		if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
			t.Fatal(err)
		}
		if f.h.dm[vm.ID] {
			t.Fatalf("stop %d: dm devices left up", i)
		}
	}
	if n := count(f.h.log(), "disk.activate"); n != 2 {
		t.Errorf("activated %d times over two starts", n)
	}
	if _, err := os.Stat(rootfs.DiskPath(f.l.VM(vm.ID), rootfs.DMSnapshot)); err != nil {
		t.Errorf("COW file gone after stop: %v", err)
	}
}

// A disk in a format the backend does not open is refused, not booted.
func TestDiskFormatTheBackendCannotOpen(t *testing.T) {
	f := newFixture(t)
	vm := f.create("web")
	if err := os.MkdirAll(f.l.VM(vm.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := handles.New(filepath.Join(f.l.VM(vm.ID), handles.FileName), vm.ID)
	path := rootfs.DiskPath(f.l.VM(vm.ID), rootfs.QCOW2)
	rec.Disk = &handles.Disk{State: handles.Created, Disk: rootfs.Disk{Path: path, Format: "qcow2", Strategy: rootfs.QCOW2}}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rec.Save(); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.Start(context.Background(), "web")
	var se *stageError
	if !errors.As(err, &se) || se.stage != "disk" || !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "qcow2") {
		t.Fatalf("want a disk-stage conflict naming qcow2, got %v", err)
	}
	if f.h.did("vmm.start") {
		t.Error("the VMM was started on a disk it cannot open")
	}
}

func TestNoNetworkStageWithoutNetwork(t *testing.T) {
	f := newFixture(t)
	f.create("iso", func(s *Spec) { s.Network = NetworkNone })
	res, err := f.s.Start(context.Background(), "iso")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Timings["network"]; ok {
		t.Error("a VM without networking ran the network stage")
	}
	for _, op := range f.h.log() {
		if strings.HasPrefix(op, "net.") {
			t.Errorf("network op %s for a VM without networking", op)
		}
	}
}

func count(ops []string, op string) int {
	n := 0
	for _, o := range ops {
		if o == op {
			n++
		}
	}
	return n
}

// A VM whose record was lost or corrupted keeps its disk: the next start
// finds the disk file by its name instead of making a fresh one.
func TestLostRecordKeepsTheDisk(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(f.l.VM(vm.ID), handles.FileName)
	if err := os.WriteFile(path, []byte(`{"version":2,"vm_id":"`+vm.ID+`","disk":{"sta`), 0o600); err != nil {
		t.Fatal(err)
	}
	f.h.reset()
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	if f.h.did("disk.create") {
		t.Fatalf("a fresh disk replaced the VM's own: %v", f.h.log())
	}
	rec, err := handles.Open(path, vm.ID)
	if err != nil || rec.Disk == nil || rec.Disk.Disk.Path != rootfs.DiskPath(f.l.VM(vm.ID), rootfs.Copy) {
		t.Fatalf("record after the start: %+v, %v", rec, err)
	}
}

// What an earlier run left recorded (a release that failed) is released
// before a start acquires anew.
func TestStartReleasesLeftoversFirst(t *testing.T) {
	f := newFixture(t)
	vm, _ := f.start("web")
	f.h.failOn("net.detach", errors.New("netlink busy"))
	if _, err := f.s.Stop(context.Background(), "web", 0); err != nil {
		t.Fatal(err)
	}
	if got := f.get("web"); got.State != Failed || got.ErrorPhase != "teardown" || !f.h.taps[vm.ID] {
		t.Fatalf("after a failed release: state %s phase %q tap %v", got.State, got.ErrorPhase, f.h.taps[vm.ID])
	}
	f.h.failOn("net.detach", nil)
	f.h.reset()
	if _, err := f.s.Start(context.Background(), "web"); err != nil {
		t.Fatal(err)
	}
	ops := f.h.log()
	if d, a := slices.Index(ops, "net.detach"), slices.Index(ops, "net.attach"); d < 0 || a < d {
		t.Fatalf("leftover tap not released before the new attach: %v", ops)
	}
}
