package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
)

// TestConfinedVMUsesAllItsMemory: a confined VM's QEMU runs as banger-vmm
// in its own cgroup, and a guest that fills its RAM is not killed by the
// memory limit derived from its size (the limit leaves room for QEMU's
// own memory).
func TestConfinedVMUsesAllItsMemory(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--memory", "384M", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	rec, err := handles.Open(filepath.Join(f.layout.VM(id), handles.FileName), id)
	if err != nil || rec.VMM == nil || rec.VMM.Handles.Confinement == nil || rec.VMM.Handles.Confinement.Cgroup == nil {
		t.Fatalf("record of a confined VM: %+v, %v", rec.VMM, err)
	}
	c := rec.VMM.Handles.Confinement
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(rec.VMM.Handles.Process.PID) + "/status")
	if !strings.Contains(string(status), "Uid:\t"+strconv.Itoa(c.UID)+"\t") || c.User != "banger-vmm" {
		t.Errorf("qemu runs as %+v; /proc says:\n%s", c, status)
	}
	// 256 MiB of a 384 MiB guest, in a tmpfs: pages the guest touches.
	f.must(t, "exec", id, "--", "sh", "-c", "mkdir -p /fill && mount -t tmpfs -o size=280m tmpfs /fill && dd if=/dev/zero of=/fill/z bs=1M count=256 2>/dev/null && sync")
	if out := f.must(t, "exec", id, "--", "sh", "-c", "du -m /fill/z | cut -f1"); strings.TrimSpace(out) != "256" {
		t.Errorf("the guest holds %q MiB in /fill", out)
	}
	mem := c.Cgroup.Dirs["memory"]
	peak := readInt(t, mem, "memory.peak", "memory.max_usage_in_bytes")
	t.Logf("cgroup v%d %s: peak %d MiB of a %d MiB limit for a 384 MiB guest", c.Cgroup.Version, mem, peak>>20, c.Cgroup.MemoryMax>>20)
	if peak <= 256<<20 || peak >= c.Cgroup.MemoryMax {
		t.Errorf("peak memory %d: want above the guest's 256 MiB and under the limit %d", peak, c.Cgroup.MemoryMax)
	}
	vm := f.inspect(t, id)
	if vm.State != "running" {
		t.Errorf("after filling its memory the VM is %s", vm.State)
	}
	if want := c.Summary(); want == "" || vm.Runtime.Confinement != want || !strings.Contains(want, "user banger-vmm") {
		t.Errorf("inspect shows confinement %q; want the record's %q", vm.Runtime.Confinement, want)
	}
}

func readInt(t *testing.T, dir string, names ...string) int64 {
	t.Helper()
	for _, n := range names {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err == nil {
				return v
			}
		}
	}
	t.Fatalf("none of %v readable in %s", names, dir)
	return 0
}
