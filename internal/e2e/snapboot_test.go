package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/api"
)

// snapMem is the memory of the boot snapshot tests' VMs: a shape of
// their own, so the first of them boots cold and saves whatever the
// other tests left.
const snapMem = "288M"

// runTimed runs `banger run --rm --timings ARGS` and returns its stdout,
// stderr, the timings line and how long the whole took.
func (f *fixture) runTimed(t *testing.T, args ...string) (string, string, map[string]any, time.Duration) {
	t.Helper()
	t0 := time.Now()
	out, errOut, code := f.cli(nil, append([]string{"run", "--rm", "--timings", "-m", snapMem}, args...)...)
	took := time.Since(t0)
	if code != 0 {
		t.Fatalf("run %v: exit %d\nstdout: %s\nstderr: %s\n%s", args, code, out, errOut, f.logTail())
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	var tm map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tm); err != nil {
		t.Fatalf("last stderr line is not the timings JSON: %q", errOut)
	}
	return out, errOut, tm, took
}

// snapshots lists the store.
func (f *fixture) snapshots(t *testing.T) []api.Snapshot {
	t.Helper()
	var sns []api.Snapshot
	if err := json.Unmarshal([]byte(f.must(t, "snapshot", "ls", "--format", "json")), &sns); err != nil {
		t.Fatal(err)
	}
	return sns
}

// The first run of a shape boots cold and saves; the next restores it
// (the timings say so) and is the VM it was asked to be: its own
// hostname, a working exec. --cold boots cold and saves nothing.
func TestBootSnapshotRestores(t *testing.T) {
	f := env(t)
	for _, sn := range f.snapshots(t) {
		if sn.MemoryMiB == 288 {
			f.must(t, "snapshot", "rm", sn.ID)
		}
	}
	out, _, tm, cold := f.runTimed(t, "--name", "snap-a", "busybox", "--", "hostname")
	if tm["boot"] != "cold" || tm["save"] == nil || tm["restore"] != nil || out != "snap-a\n" {
		t.Fatalf("first run: %q, timings %v; want cold and saved, its hostname", out, tm)
	}
	out, _, tm, restored := f.runTimed(t, "--name", "snap-b", "busybox", "--", "hostname")
	if tm["boot"] != "restored" || tm["restore"] == nil || tm["vmm"] != nil || tm["save"] != nil {
		t.Fatalf("second run's timings %v: want restored", tm)
	}
	if out != "snap-b\n" {
		t.Errorf("restored VM's hostname %q, want snap-b", out)
	}
	_, _, tmc, coldTrue := f.runTimed(t, "--cold", "busybox", "--", "true")
	_, _, tmr, restTrue := f.runTimed(t, "busybox", "--", "true")
	if tmc["boot"] != "cold" || tmc["save"] != nil || tmr["boot"] != "restored" {
		t.Errorf("--cold: %v; then: %v", tmc, tmr)
	}
	t.Logf("run --rm IMG -- true: cold %v (--cold), restored %v; first run (cold + save) %v, second %v", coldTrue, restTrue, cold, restored)
	if n := len(f.snapshots(t)); n == 0 {
		t.Error("no snapshot listed")
	}
}
