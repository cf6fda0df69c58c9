package qemu

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"testing"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/testutil"
)

// A VM's cgroup that no record names any more is found by the VM id in
// its name and swept; other groups under the parent are not the
// backend's. On this host's real cgroups, without a VM.
func TestOwnedAndSweep(t *testing.T) {
	testutil.RequireRoot(t)
	h := cgroups.Detect()
	if h.Version == 0 {
		testutil.Skip(t, h.Why)
	}
	const parent = "banger-test.slice"
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	id := "sw" + hex.EncodeToString(rnd[:])
	var plans []cgroups.Plan
	for _, name := range []string{cgroupPrefix + id, "other-" + id} {
		p, err := cgroups.PlanFor(h, parent, name, cgroups.Limits{MemoryBytes: 64 << 20, Pids: 8})
		if err != nil {
			t.Fatal(err)
		}
		if err := cgroups.Check(p); err != nil {
			testutil.Skip(t, "cgroups not writable here: "+err.Error())
		}
		fd, err := cgroups.Apply(p)
		if err != nil {
			t.Fatal(err)
		}
		if fd != nil {
			_ = fd.Close()
		}
		plans = append(plans, p)
	}
	t.Cleanup(func() {
		for _, p := range plans {
			_ = cgroups.Remove(p.Groups)
			for _, d := range p.Parents {
				_ = os.Remove(d) // shared with other tests' groups: only when empty
			}
		}
	})
	b := New(WithConfinement(Confine{User: "banger-vmm", CgroupParent: parent}))
	ownedBy := func() []string {
		t.Helper()
		objs, err := b.Owned()
		if err != nil {
			t.Fatalf("Owned: %v", err)
		}
		var dirs []string
		for _, o := range objs {
			if o.Kind != "cgroup" {
				t.Errorf("Owned listed %+v; want only cgroups", o)
			}
			if o.VMID == id {
				dirs = append(dirs, o.Name)
			}
			if o.VMID == "" || o.VMID == "other-"+id || o.Name == plans[1].Groups[0] {
				t.Errorf("Owned listed %+v, which is no VM's group", o)
			}
		}
		slices.Sort(dirs)
		return dirs
	}
	want := slices.Sorted(slices.Values(plans[0].Groups))
	if got := ownedBy(); !slices.Equal(got, want) {
		t.Fatalf("Owned for vm %s = %v; want its groups %v", id, got, want)
	}
	for range 2 { // the second sweep finds nothing, which is success
		if err := b.Sweep(id); err != nil {
			t.Fatalf("Sweep: %v", err)
		}
	}
	for _, d := range plans[0].Groups {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("cgroup %s left after Sweep: %v", d, err)
		}
	}
	for _, d := range plans[1].Groups {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("Sweep took %s, which is no VM's: %v", d, err)
		}
	}
	if got := ownedBy(); len(got) != 0 {
		t.Errorf("Owned after Sweep = %v", got)
	}
	// Unconfined, the backend made no groups, so it owns none.
	if objs, err := New().Owned(); err != nil || len(objs) != 0 {
		t.Errorf("an unconfined backend owns %v, %v", objs, err)
	}
}
