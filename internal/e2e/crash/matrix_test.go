package crash

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/crashpoint"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/api"

	// The points of every package the daemon links register at init; the
	// test enumerates them through crashpoint.All.
	_ "github.com/bangerdev/banger/internal/daemon"
)

// TestCrashMatrix kills a real daemon by SIGKILL at every crash point the
// program declares, by driving the operation that reaches it through the
// CLI, then restarts it and checks, with the daemon's inventory and
// directly on the host: nothing leaked; a VM whose VMM survived runs
// adopted (same process) and answers exec; every other VM holds nothing;
// a second restart changes nothing; gc --dry-run finds nothing; every VM
// a start killed half-way left can start again. BANGER_CRASHPOINTS (a
// regexp) limits the points.
func TestCrashMatrix(t *testing.T) {
	began := time.Now()
	l := newLab(t)
	pullRef := busyboxRegistry(t, l)
	drive := drivers(pullRef)
	l.stop(t)

	points := crashpoint.All()
	if len(points) < 25 {
		t.Errorf("only %d crash points are declared; the matrix wants at least 25", len(points))
	}
	if re := os.Getenv("BANGER_CRASHPOINTS"); re != "" {
		only := regexp.MustCompile(re)
		points = slices.DeleteFunc(points, func(p crashpoint.Info) bool { return !only.MatchString(p.Name) })
	}
	ids := map[string]bool{}
	var tried, passed, leaks int
	for _, p := range points {
		t.Run(p.Name, func(t *testing.T) {
			d, ok := drive[p.Op]
			if !ok {
				t.Fatalf("crash point %s: no driver for operation %q", p.Name, p.Op)
			}
			tried++
			t0 := time.Now()
			n := l.crashAt(t, p, d, ids)
			leaks += n
			if !t.Failed() {
				passed++
			}
			t.Logf("%s (%s): %d leaks, %.1fs", p.Name, p.Op, n, time.Since(t0).Seconds())
		})
	}
	fmt.Printf("crashpoints tried %d, passed %d, leaks %d (%.0fs)\n", tried, passed, leaks, time.Since(began).Seconds())
}

// crashAt runs one point: drive, see the daemon die there, restart,
// check, reconcile again, restart what is left, clean up. It returns the
// leaks found.
func (l *lab) crashAt(t *testing.T, p crashpoint.Info, d driver, ids map[string]bool) int {
	t.Helper()
	mark := stopwatch(t)
	defer func() { l.reset(t, ids); mark("reset") }()
	d(t, l, p.Name)
	mark("drive")
	if !l.waitExit(60 * time.Second) {
		t.Fatalf("operation %q did not reach crash point %s: the daemon lives on", p.Op, p.Name)
	}
	if !l.diedAt(p.Name) {
		t.Fatalf("the daemon died (%v), but not at crash point %s:\n%s", l.status, p.Name, l.logTail())
	}
	atDeath := l.scanHost(t, ids)

	if !l.start(t, "") {
		t.Fatalf("the daemon died at restart:\n%s", l.logTail())
	}
	v := l.look(t, ids)
	leaks := v.leaks()
	mark("restart and look")
	for id, vm := range v.VMs {
		if vm.State != api.VMRunning {
			continue
		}
		if !slices.Contains(atDeath.VMMs[id], vm.Runtime.PID) {
			t.Errorf("vm %s runs with pid %d after restart, but its VMMs at the crash were %v: not adopted", id, vm.Runtime.PID, atDeath.VMMs[id])
		}
		if out, errOut, code := l.cli("exec", id, "--", "echo", "adopted"); code != 0 || out != "adopted\n" {
			t.Errorf("exec on the adopted vm %s: exit %d, %q %s", id, code, out, errOut)
		}
	}

	mark("exec on adopted VMs")
	// A second reconcile changes nothing.
	l.restart(t)
	v2 := l.look(t, ids)
	mark("second restart")
	leaks = append(leaks, v2.leaks()...)
	if a, b := v.summary(), v2.summary(); a != b {
		t.Errorf("a second restart changed the state:\nbefore:\n%s\nafter:\n%s", a, b)
	}
	for _, line := range []string{"reconcile: released", "reconcile: removed"} {
		if strings.Contains(l.log(), line) {
			t.Errorf("the second reconcile did something (%q):\n%s", line, l.logTail())
		}
	}

	// A save or checkpoint killed before its commit leaves nothing a
	// later start or run --from could use (the restart removed its
	// temporary directory); one killed after it keeps what it committed.
	for _, op := range []struct{ prefix, cmd string }{{"vms/save/", "snapshot"}, {"vms/checkpoint/", "checkpoint"}} {
		if !strings.HasPrefix(p.Name, op.prefix) {
			continue
		}
		out := strings.TrimSpace(l.must(t, op.cmd, "ls", "-q"))
		if committed := p.Name == op.prefix+"committed"; (out != "") != committed {
			t.Errorf("killed at %s: %s ls lists %q; want one %s only after the commit", p.Name, op.cmd, out, op.cmd)
		}
	}
	// A checkpoint's source runs on after the crash (resumed if the
	// crash left it paused).
	if strings.HasPrefix(p.Name, "vms/checkpoint/") {
		if out, errOut, code := l.cli("exec", "cp", "--", "echo", "ok"); code != 0 || out != "ok\n" {
			t.Errorf("exec on the checkpointed VM after the crash at %s: exit %d, %q %s", p.Name, code, out, errOut)
		}
	}

	// What a start killed half-way left works: the VM starts and answers.
	// (After the other operations the VM was released as a stop releases
	// it, which the VM tests start again already: a boot each is what
	// keeps the matrix within minutes.)
	for id, vm := range v2.VMs {
		if vm.State == api.VMRunning || (p.Op != crashpoint.Run && p.Op != crashpoint.RunNetns) {
			continue
		}
		if out, errOut, code := l.cli("start", id); code != 0 {
			t.Errorf("start vm %s (%s) after the crash: exit %d\n%s%s", id, vm.State, code, out, errOut)
		} else if out, errOut, code := l.cli("exec", id, "--", "echo", "ok"); code != 0 || out != "ok\n" {
			t.Errorf("exec on vm %s restarted after the crash: exit %d, %q %s", id, code, out, errOut)
		}
	}
	mark("start what is left")
	for _, s := range leaks {
		t.Errorf("leak: %s", s)
	}
	return len(leaks)
}

// reset removes every VM and every image and kernel but the lab's own,
// checks that nothing at all is left (also in the database, read once the
// daemon is stopped), and stops the daemon.
func (l *lab) reset(t *testing.T, ids map[string]bool) {
	t.Helper()
	l.kill(t) // whatever state a failed check left
	if !l.start(t, "") {
		t.Fatalf("reset: the daemon died at start:\n%s", l.logTail())
	}
	for _, vm := range mustJSON[[]api.VM](t, l, "ps", "-a") {
		l.must(t, "rm", "-f", vm.ID)
	}
	// Every point starts without boot snapshots: a run then boots cold
	// and passes the save's points.
	l.must(t, "snapshot", "prune", "--all")
	if cks := strings.Fields(l.must(t, "checkpoint", "ls", "-q")); len(cks) > 0 {
		l.must(t, append([]string{"checkpoint", "rm"}, cks...)...)
	}
	if nets := strings.Fields(l.must(t, "network", "ls", "-q", "--filter", "type=custom")); len(nets) > 0 {
		l.must(t, append([]string{"network", "rm"}, nets...)...)
	}
	for _, img := range mustJSON[[]api.Image](t, l, "image", "ls") {
		if img.ID != l.baseImage {
			l.must(t, "image", "rm", img.ID)
		}
	}
	for _, k := range mustJSON[[]api.Kernel](t, l, "kernel", "ls") {
		if k.Name != "debian" {
			l.must(t, "kernel", "rm", k.Name)
		}
	}
	v := l.look(t, ids)
	for _, s := range v.leaks() {
		t.Errorf("after rm of everything: %s", s)
	}
	if t.Failed() {
		l.scrub(t, v)
	}
	if len(v.VMs) > 0 || len(v.Objs) > 0 || len(v.Host.VMDirs) > 0 || len(v.Host.RunDirs) > 0 || len(v.Images) != 1 || len(v.Kernels) != 1 {
		t.Errorf("after rm of everything: vms %d, inventory %v, vm dirs %v, runtime dirs %v, images %v, kernels %v",
			len(v.VMs), v.Objs, v.Host.VMDirs, v.Host.RunDirs, v.Images, v.Kernels)
	}
	l.stop(t)
	st, err := store.Open(l.layout.Database())
	if err != nil {
		t.Fatalf("reset: open the database: %v", err)
	}
	defer func() { _ = st.Close() }()
	for _, b := range []store.Bucket{store.VMs, store.Leases, store.Networks} {
		n := 0
		_ = st.View(func(tx *store.Tx) error {
			return tx.ForEach(b, func(string, []byte) error { n++; return nil })
		})
		if n > 0 {
			t.Errorf("after rm of everything the database still has %d %s", n, b)
		}
	}
}

// stopwatch returns a function logging how long each phase took.
func stopwatch(t *testing.T) func(phase string) {
	last := time.Now()
	return func(phase string) {
		t.Logf("  %-22s %5.1fs", phase, time.Since(last).Seconds())
		last = time.Now()
	}
}

// scrub removes what a failed point leaked, so the next point starts
// clean: gc, then the lab's VMM processes and files no record names.
func (l *lab) scrub(t *testing.T, v view) {
	t.Helper()
	l.cli("gc")
	for _, pids := range v.Host.VMMs {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, e := range v.Host.Tmp {
		_ = os.RemoveAll(filepath.Join(l.layout.Tmp(), e))
	}
	for _, e := range v.Host.Ingest {
		_ = os.RemoveAll(filepath.Join(l.layout.OCICache(), "ingest", e))
	}
	for _, e := range v.Host.Kernels {
		if !slices.Contains(v.Kernels, e) {
			_ = os.RemoveAll(l.layout.Kernel(e))
		}
	}
	for _, e := range v.Host.Images {
		if !slices.Contains(v.Images, e) {
			_ = os.RemoveAll(l.layout.Image(e))
		}
	}
}
