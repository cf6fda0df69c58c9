package vms

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
)

// A running VM's handles.json cut at every byte (a disk that lost the
// tail of a write while the daemon died), its VMM gone: the next daemon
// must release everything the VM held at runtime — dm devices, tap and
// rules, the VMM's cgroup, runtime dir — leave it not running, change nothing at a second
// reconcile, and rm must then free the lease and the disk.
func TestTruncatedRecordStillReleasesEverything(t *testing.T) {
	dm := func(f *fixture) { f.dm = true; f.b.caps.DiskFormats = []string{"raw"} }
	// Every byte takes ~30s (each cut is a start, a reconcile and an rm);
	// -short cuts at every 13th.
	step := 1
	if testing.Short() {
		step = 13
	}
	cuts := 0
	f := newFixture(t, dm)
	for n := 0; ; n += step {
		vm, m := f.start("web")
		path := filepath.Join(f.l.VM(vm.ID), handles.FileName)
		cut, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if n >= len(cut) {
			break
		}
		f.h.reset()
		cuts++
		// The daemon dies, the record loses its tail, the VMM dies.
		f.s.Close()
		if err := os.WriteFile(path, cut[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		m.exit(-1)
		f.h.reset()
		f.s = f.service()
		f.s.Reconcile(context.Background())

		if f.h.taps[vm.ID] || f.h.dm[vm.ID] || f.h.cgroups[vm.ID] {
			t.Fatalf("cut at %d of %d: tap %v, dm devices %v, cgroup %v left", n, len(cut), f.h.taps[vm.ID], f.h.dm[vm.ID], f.h.cgroups[vm.ID])
		}
		if _, err := os.Stat(f.l.VMRuntime(vm.ID)); !os.IsNotExist(err) {
			t.Fatalf("cut at %d: runtime dir left (%v)", n, err)
		}
		if got := f.get(vm.ID); got.State == Running {
			t.Fatalf("cut at %d: the VM is still recorded as running", n)
		}
		if ops := f.reconcileAgain(); len(ops) > 0 {
			t.Fatalf("cut at %d: a second reconcile did %v", n, ops)
		}
		if err := f.s.Remove(context.Background(), vm.ID, false); err != nil {
			t.Fatalf("cut at %d: rm: %v", n, err)
		}
		if f.h.leases[vm.ID] {
			t.Fatalf("cut at %d: rm left the lease", n)
		}
		if _, err := os.Stat(f.l.VM(vm.ID)); !os.IsNotExist(err) {
			t.Fatalf("cut at %d: rm left the VM dir (%v)", n, err)
		}
	}
	t.Logf("released everything from a record cut at %d places, every %d bytes", cuts, step)
}
