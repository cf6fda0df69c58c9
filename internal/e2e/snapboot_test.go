package e2e

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil/testimages"
	"github.com/bangerdev/banger/pkg/api"
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
	return out, errOut, timingsOf(t, errOut), took
}

// timingsOf reads the JSON line `--timings` ends a run's stderr with.
func timingsOf(t *testing.T, errOut string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	var tm map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tm); err != nil {
		t.Fatalf("last stderr line is not the timings JSON: %q", errOut)
	}
	return tm
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
	out, _, tm, restored := f.runTimed(t, "--name", "snap-b", "busybox", "--", "sh", "-c", "hostname; cat /etc/hostname")
	if tm["boot"] != "restored" || tm["restore"] == nil || tm["vmm"] != nil || tm["save"] != nil {
		t.Fatalf("second run's timings %v: want restored", tm)
	}
	// /etc/hostname too, as docker writes it (the image's says busybox).
	if out != "snap-b\nsnap-b\n" {
		t.Errorf("restored VM's hostname and /etc/hostname %q, want snap-b twice", out)
	}
	_, _, tmc, coldTrue := f.runTimed(t, "--cold", "busybox", "--", "true")
	_, _, tmr, restTrue := f.runTimed(t, "busybox", "--", "true")
	if tmc["boot"] != "cold" || tmc["save"] != nil || tmr["boot"] != "restored" {
		t.Errorf("--cold: %v; then: %v", tmc, tmr)
	}
	t.Logf("run --rm IMG -- true: cold %v (--cold), restored %v; first run (cold + save) %v, second %v", coldTrue, restTrue, cold, restored)
	t.Logf("timings: cold %v; restored %v", tmc, tmr)
	if n := len(f.snapshots(t)); n == 0 {
		t.Error("no snapshot listed")
	}
	// Each save's temporary directory went: gc finds nothing.
	f.assertNoOrphans(t)
}

// Two VMs restored from one snapshot run side by side as two machines:
// their own address and MAC (in the guest too), hostname, random bytes
// and host keys (the daemon pins each VM's own key after the apply, so
// an exec that answers proves the guest serves it), and the host's
// clock.
func TestRestoredSideBySide(t *testing.T) {
	f := env(t)
	f.runTimed(t, "busybox", "--", "true") // the snapshot exists after this
	type guest struct {
		vm                          api.VM
		mac, ip, host, random, date string
		hostNow                     int64 // the host's clock when date was read
	}
	var gs []guest
	for _, name := range []string{"twin-a", "twin-b"} {
		f.must(t, "run", "-d", "--name", name, "-m", snapMem, "busybox", "sleep", "1000")
		t.Cleanup(func() { f.cli(nil, "rm", "-f", name) })
		vm := f.inspect(t, name)
		if vm.Boot.Mode != "restored" || vm.Boot.Snapshot == "" {
			t.Fatalf("%s booted %+v, want restored", name, vm.Boot)
		}
		sh := func(cmd string) string {
			return strings.TrimSpace(f.must(t, "exec", name, "--", "sh", "-c", cmd))
		}
		gs = append(gs, guest{vm: vm, mac: sh("cat /sys/class/net/eth0/address"), ip: sh("ip -4 -o addr show eth0"),
			host: sh("hostname"), random: sh("head -c 16 /dev/urandom | od -An -tx1"), date: sh("date +%s"), hostNow: time.Now().Unix()})
	}
	a, b := gs[0], gs[1]
	for _, g := range gs {
		if g.mac != g.vm.Runtime.MAC || !strings.Contains(g.ip, " "+g.vm.Runtime.IP+"/") || g.host != g.vm.Name {
			t.Errorf("%s: guest MAC %s, address %q, hostname %s; want %s, %s, %s", g.vm.Name, g.mac, g.ip, g.host, g.vm.Runtime.MAC, g.vm.Runtime.IP, g.vm.Name)
		}
		// Compared with the host's clock when it was read: the second
		// twin's start comes between, seconds on a loaded host.
		guestNow, err := strconv.ParseInt(g.date, 10, 64)
		// A TCG guest's clock falls seconds behind on a loaded host. That
		// the apply sets it is proved by the agent's VM tests, whose
		// snapshot's clock says 2001.
		if d := g.hostNow - guestNow; err != nil || d > 30 || d < -5 {
			t.Errorf("%s: guest clock %q, host %d: more than 30 s apart", g.vm.Name, g.date, g.hostNow)
		}
	}
	if a.vm.Runtime.MAC == b.vm.Runtime.MAC || a.vm.Runtime.IP == b.vm.Runtime.IP || a.random == b.random {
		t.Errorf("the twins share MAC %s/%s, IP %s/%s or random bytes %s/%s", a.mac, b.mac, a.vm.Runtime.IP, b.vm.Runtime.IP, a.random, b.random)
	}
	// A restored VM is released as a booted one: nothing of it is left.
	f.must(t, "rm", "-f", a.vm.ID, b.vm.ID)
	for _, g := range gs {
		f.assertNoTrace(t, g.vm.ID)
	}
	f.assertNoOrphans(t)
}

// A snapshot whose state file was truncated is found damaged before
// use: the run warns, boots cold and works, and a good one is saved.
// An image imported again with other content (a new digest) misses.
func TestDamagedAndStaleSnapshots(t *testing.T) {
	f := env(t)
	f.runTimed(t, "busybox", "--", "true")
	var sn api.Snapshot
	all := f.snapshots(t)
	for _, s := range all {
		if s.MemoryMiB == 288 && !strings.Contains(s.Image, "busybox2") {
			sn = s
		}
	}
	if sn.ID == "" {
		t.Fatalf("no snapshot of the shape in %+v", all)
	}
	if err := os.Truncate(filepath.Join(sn.Path, "state"), 4096); err != nil {
		t.Fatal(err)
	}
	out, errOut, tm, _ := f.runTimed(t, "busybox", "--", "echo", "works")
	if tm["boot"] != "cold" || out != "works\n" || !strings.Contains(errOut, "warning: ") || !strings.Contains(errOut, sn.ID) {
		t.Fatalf("after truncating %s: %q, timings %v, stderr %s", sn.ID, out, tm, errOut)
	}
	// The damaged snapshot was removed (its shape's new save took its
	// place), not left for gc.
	f.assertNoOrphans(t)
	if _, _, tm, _ := f.runTimed(t, "busybox", "--", "true"); tm["boot"] != "restored" {
		t.Errorf("the cold boot after the damage saved no good snapshot: %v", tm)
	}
	other := filepath.Join(t.TempDir(), "busybox2.tar")
	withExtraFile(t, testimages.BusyboxRootfsTar(t), other)
	f.must(t, "image", "import", other, "--name", "busybox2")
	t.Cleanup(func() { f.cli(nil, "rmi", "busybox2") })
	if _, _, tm, _ := f.runTimed(t, "busybox2", "--", "true"); tm["boot"] != "cold" {
		t.Errorf("an image with another digest restored: %v", tm)
	}
}

// withExtraFile copies the tarball src to dst with one more file: the
// same image, another digest.
func withExtraFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	r, w := tar.NewReader(in), tar.NewWriter(out)
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, r); err != nil {
			t.Fatal(err)
		}
	}
	body := []byte("another digest\n")
	if err := w.WriteHeader(&tar.Header{Name: "etc/banger-e2e", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
