package crash

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/pkg/api"
)

// TestTruncatedRecord: a VM runs with a published port, the daemon is
// killed, and the VM's handles.json loses its tail (cut to nothing, to
// half, to all but its last byte). The next daemon must either adopt the
// VM (it answers exec) or release all it held on the real host — the
// QEMU process found by its BANGER_VM, the tap by its name, the nft
// rules by their marker — and rm must then leave nothing.
func TestTruncatedRecord(t *testing.T) {
	l := newLab(t)
	ids := map[string]bool{}
	for _, cut := range []struct {
		name string
		at   func(n int) int
	}{
		{"empty", func(int) int { return 0 }},
		{"half", func(n int) int { return n / 2 }},
		{"all but the last byte", func(n int) int { return n - 1 }},
	} {
		t.Run(cut.name, func(t *testing.T) {
			id := strings.TrimSpace(l.must(t, "run", "-d", "-p", freePort(t)+":80", "busybox"))
			id = mustInspect[api.VM](t, l, "inspect", id).ID
			l.kill(t)
			path := filepath.Join(l.layout.VM(id), handles.FileName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b[:cut.at(len(b))], 0o600); err != nil {
				t.Fatal(err)
			}
			if !l.start(t, "") {
				t.Fatalf("the daemon died at restart:\n%s", l.logTail())
			}
			v := l.look(t, ids)
			for _, s := range v.leaks() {
				t.Errorf("leak: %s", s)
			}
			if vm := v.VMs[id]; vm.State == api.VMRunning {
				if out, errOut, code := l.cli("exec", id, "--", "echo", "adopted"); code != 0 || out != "adopted\n" {
					t.Errorf("the adopted VM does not answer: exit %d %q %s", code, out, errOut)
				}
			} else if len(v.Host.VMMs[id]) > 0 {
				t.Errorf("vm %s is %s but its VMM %v runs", id, vm.State, v.Host.VMMs[id])
			}
			t.Logf("record cut at %d of %d bytes: the VM is %s", cut.at(len(b)), len(b), v.VMs[id].State)
			l.must(t, "rm", "-f", id)
			if v := l.look(t, ids); len(v.leaks()) > 0 || len(v.VMs) > 0 || len(v.vmObjs()) > 0 {
				t.Errorf("after rm -f: vms %d, inventory %v, leaks %v", len(v.VMs), v.vmObjs(), v.leaks())
			}
		})
	}
}
