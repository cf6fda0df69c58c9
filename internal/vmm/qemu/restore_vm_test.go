package qemu_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// A guest saved while a counter runs in it, with a file in its RAM and
// bytes on its disk, comes back twice from one snapshot: each restored
// machine (its own copy of the disk, its own sockets) answers exec, still
// has the file and the bytes, and its counter process goes on from where
// it was. Both ways to save RAM are measured: in the state file, and as a
// memory file mapped copy-on-write.
func TestSnapshotRestore(t *testing.T) {
	f := newSnapFixture(t)
	for _, mode := range []struct {
		name    string
		memFile bool
	}{{"ram-in-state", false}, {"memory-file", true}} {
		t.Run(mode.name, func(t *testing.T) { snapshotRestore(t, f, mode.memFile) })
	}
}

func snapshotRestore(t *testing.T, f snapFixture, memFile bool) {
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	prefix := map[bool]string{false: "s", true: "m"}[memFile]
	spec := f.spec(t, prefix+"src", "")
	if memFile {
		spec.MemoryFile = filepath.Join(spec.RuntimeDir, "mem")
	}
	t0 := time.Now()
	src, err := f.b.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	cleanupMachine(t, src)
	sh := dialShell(ctx, t, src)
	sh.run("true")
	cold := time.Since(t0)
	sh.run("echo snap-data > /tmp/file && printf on-disk | dd of=/dev/vda conv=fsync 2>/dev/null")
	// The guest's write shows in QMP's block stats (the test against a
	// machine-less QEMU sees only zeros).
	if bs, err := src.(vmm.BlockStatser).BlockStats(ctx); err != nil || bs.WriteBytes == 0 {
		t.Errorf("block stats after the guest wrote its disk: %+v, %v; want bytes written", bs, err)
	}
	// The counter renames each value into place: a reader never sees
	// the file truncated between two values.
	sh.run("(i=0; while :; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done) >/dev/null 2>&1 & echo $! > /tmp/counter.pid")
	time.Sleep(500 * time.Millisecond)
	before := count(t, sh)
	pid := strings.TrimSpace(sh.run("cat /tmp/counter.pid"))
	p := src.(vmm.Pauser)
	if err := p.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	snap := vmm.SnapshotSpec{StatePath: filepath.Join(f.dir, prefix+"state")}
	if memFile {
		snap.MemPath = filepath.Join(f.dir, prefix+"mem")
	}
	t1 := time.Now()
	if err := src.(vmm.Snapshotter).CreateSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	saved := time.Since(t1)
	stateKiB, _ := fileKiB(t, snap.StatePath)
	var memKiB, memAlloc int64
	if memFile {
		memKiB, memAlloc = fileKiB(t, snap.MemPath)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(f.dir, ".*tmp*")); len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	// The disk as of the snapshot (the caller's copy), then the source
	// goes on: a save is also a checkpoint.
	srcDisk := filepath.Join(f.dir, prefix+"snap.disk")
	if out, err := exec.CommandContext(ctx, "cp", spec.Drives[0].Path, srcDisk).CombinedOutput(); err != nil {
		t.Fatalf("copy disk: %v\n%s", err, out)
	}
	if err := p.Resume(ctx); err != nil {
		t.Fatalf("resume after the save: %v", err)
	}
	if n := count(t, sh); n < before {
		t.Errorf("source counter at %d after the save; was %d", n, before)
	}
	if err := src.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := src.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(spec.MemoryFile); memFile && !os.IsNotExist(err) {
		t.Errorf("the source's memory file is left after Cleanup: %v", err)
	}

	var kids []vmm.Machine
	var shells []*shell
	for i := range 2 {
		kid := f.spec(t, prefix+"kid"+strconv.Itoa(i), srcDisk)
		var records []vmm.Handles
		kid.Record = func(h vmm.Handles) error { records = append(records, h); return nil }
		// The second restore stays paused until resumed.
		restore := vmm.RestoreSpec{StatePath: snap.StatePath, MemPath: snap.MemPath, Resume: i == 0}
		t2 := time.Now()
		m, err := f.b.Restore(ctx, kid, restore)
		if err != nil {
			t.Fatal(err)
		}
		if !restore.Resume {
			if st, err := m.Status(ctx); err != nil || st != vmm.StatusPaused {
				t.Errorf("restored without Resume: status %v, %v; want paused", st, err)
			}
			if err := m.(vmm.Pauser).Resume(ctx); err != nil {
				t.Fatal(err)
			}
		}
		restored := time.Since(t2)
		cleanupMachine(t, m)
		if len(records) != 2 || records[0].Process.PID != 0 || records[1].Process != m.Handles().Process || records[0].Sockets["qmp"] == "" {
			t.Errorf("Restore recorded %+v; want the sockets before QEMU, then its process", records)
		}
		ksh := dialShell(ctx, t, m)
		first := count(t, ksh)
		firstExec := time.Since(t2)
		if first < before || first > before+2+int(time.Since(t2)/(100*time.Millisecond)) {
			t.Errorf("restored counter at %d; it was at %d before the snapshot", first, before)
		}
		if got := ksh.run("cat /tmp/file"); got != "snap-data\n" {
			t.Errorf("restored /tmp/file = %q", got)
		}
		ksh.run("kill -0 " + pid)
		if got := ksh.run("dd if=/dev/vda bs=4096 count=1 iflag=direct 2>/dev/null | head -c 7; echo"); got != "on-disk\n" {
			t.Errorf("restored disk starts with %q", got)
		}
		rss, pss, dirty := memStats(m.Handles().Process.PID)
		t.Logf("restore %d: Restore returned after %v, first exec done after %v; rss %d KiB, pss %d KiB, private dirty %d KiB",
			i, restored.Round(time.Millisecond), firstExec.Round(time.Millisecond), rss, pss, dirty)
		kids, shells = append(kids, m), append(shells, ksh)
	}
	t.Logf("cold boot to first exec %v; save %v; state file %d KiB; memory file %d KiB (%d KiB allocated)",
		cold.Round(time.Millisecond), saved.Round(time.Millisecond), stateKiB, memKiB, memAlloc)

	// Side by side: each disk is its own, each counter goes on.
	shells[0].run("printf kid-zero | dd of=/dev/vda conv=fsync 2>/dev/null")
	time.Sleep(300 * time.Millisecond)
	for i, ksh := range shells {
		want := map[int]string{0: "kid-zer\n", 1: "on-disk\n"}[i]
		if got := ksh.run("dd if=/dev/vda bs=4096 count=1 iflag=direct 2>/dev/null | head -c 7; echo"); got != want {
			t.Errorf("restore %d: disk starts with %q; want %q", i, got, want)
		}
		if n := count(t, ksh); n <= before+2 {
			t.Errorf("restore %d: counter at %d, not moving on from %d", i, n, before)
		}
	}
	if memFile {
		if b, _ := os.ReadFile(snap.MemPath); len(b) == 0 {
			t.Error("memory file is empty")
		}
	}
	// An adopted restored machine is an ordinary machine.
	adopted, err := f.b.Attach(ctx, kids[1].Handles())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := adopted.Status(ctx); err != nil || st != vmm.StatusRunning {
		t.Errorf("adopted restore: status %v, %v", st, err)
	}
	if err := adopted.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if err := adopted.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(kids[1].Handles().Sockets["qmp"][:len(kids[1].Handles().Sockets["qmp"])-len("/qmp.sock")]); len(entries) != 0 {
		t.Errorf("runtime dir not empty after Cleanup: %v", entries)
	}
	if !memFile {
		truncatedRestore(ctx, t, f, snap.StatePath, srcDisk)
	}
}

// count reads the guest counter.
func count(t *testing.T, sh *shell) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(sh.run("cat /tmp/count")))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A truncated or corrupt state file fails Restore within a bounded time,
// with QEMU's reason, and leaves no QEMU and no runtime files.
func truncatedRestore(ctx context.Context, t *testing.T, f snapFixture, state, disk string) {
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("QEVM\x00\x00\x00\x03 this is not a migration stream")
	for i, bad := range [][]byte{b[:len(b)/2], garbage, nil} {
		path := filepath.Join(f.dir, "badstate"+strconv.Itoa(i))
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		spec := f.spec(t, "bad"+strconv.Itoa(i), disk)
		t0 := time.Now()
		m, err := f.b.Restore(ctx, spec, vmm.RestoreSpec{StatePath: path, Resume: true})
		took := time.Since(t0)
		if err == nil {
			_ = m.Kill(ctx)
			t.Fatalf("Restore from a bad state file %d succeeded", i)
		}
		t.Logf("bad state file %d: Restore failed after %v: %v", i, took.Round(time.Millisecond), err)
		if !strings.Contains(err.Error(), "restore from "+path) || !errors.Is(err, vmm.ErrBadSnapshot) || took > 30*time.Second {
			t.Errorf("bad state file %d: %v after %v; want a restore error naming the file, quickly", i, err, took)
		}
		if entries, _ := os.ReadDir(spec.RuntimeDir); len(entries) != 0 {
			t.Errorf("runtime dir not empty after a failed restore: %v", entries)
		}
	}
}

// Save and restore work with QEMU confined (an unprivileged user, the
// seccomp sandbox that forbids spawning, a cgroup): the state goes
// through descriptors the daemon opened, never a path or a shell. Guest
// RAM in a file is refused up front: QEMU 7.2 would have to open it by
// path, read-write.
func TestSnapshotRestoreConfined(t *testing.T) {
	f := newSnapFixture(t)
	confinedHarness(t) // skips unless the host can confine
	f.b = qemu.New(qemu.WithAccel(testAccel()),
		qemu.WithConfinement(qemu.Confine{User: confineUser, CgroupParent: "banger-test.slice"}))
	t.Run("ram-in-state", func(t *testing.T) { snapshotRestore(t, f, false) })
	t.Run("memory-file refused", func(t *testing.T) {
		spec := f.spec(t, "cmem", "")
		spec.MemoryFile = filepath.Join(spec.RuntimeDir, "mem")
		_, err := f.b.Start(t.Context(), spec)
		if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "needs an unconfined qemu") {
			t.Fatalf("Start with a memory file, confined = %v; want ErrUnsupported", err)
		}
		if entries, _ := os.ReadDir(spec.RuntimeDir); len(entries) != 0 {
			t.Errorf("runtime dir not empty: %v", entries)
		}
	})
}
