package agent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/procfs"
	disks "github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
)

// forkCounter is the source's main process: it says its pid, then
// counts in /count every 100 ms.
const forkCounter = "echo $$ > /main.pid; i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done"

// A running VM forked twice, as `banger fork` will: the source (held
// boot, applied, its main process counting) is paused, its state saved
// (RAM in the state file), its disk cloned and resumed; two forks are
// restored side by side, each on its own copy of that clone, and each
// re-identified. Each fork has its own hostname, MAC, address (the
// source's gone, IPv6 link-local included), host key and random state,
// and the host's clock (not its checkpoint's);
// the main process is the source's own, never restarted, counting on
// from where it was; the file written before the fork is there; what
// the source and the forks write afterwards stays their own. The source
// goes on unchanged. It logs how long the source was frozen, each
// fork's restore to re-identify, and the QEMU processes' RSS.
func TestForkRunningVM(t *testing.T) {
	r := newHeldRig(t, "agfk")
	ctx, cancel := context.WithTimeout(t.Context(), 6*time.Minute)
	defer cancel()
	srcDisk := r.disk(t, "src.ext4")
	src := r.start(ctx, t, r.spec(t, "src", srcDisk, "ts0", macOf(0)), nil)
	hc, err := r.g.dial(ctx, t, src, r.g.hostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	own, srcKey := r.own(t, 0, forkCounter)
	if err := hc.Apply(ctx, own, time.Now()); err != nil {
		t.Fatal(err)
	}
	c := r.redial(ctx, t, src, hc, srcKey)
	checkApplied(ctx, t, r, c, 0)
	mustSh(ctx, t, c, "echo before-the-fork > /file && sync")
	mainPID := waitFile(ctx, t, c, "/main.pid")
	srcLinkLocal := ""
	if f := strings.Fields(mustSh(ctx, t, c, "ip -o -6 addr show dev eth0 scope link")); len(f) > 3 {
		srcLinkLocal = f[3]
	}
	waitCount(ctx, t, c, 5)

	// The checkpoint, with the source's clock far off (a fork that kept
	// it fails below; the source gets the right time back after): the
	// source is frozen from Pause to Resume.
	mustSh(ctx, t, c, "date -s @1000000000")
	before := waitCount(ctx, t, c, 0)
	dir := r.g.dir
	state := filepath.Join(dir, "fork.state")
	dm := disks.New()
	t0 := time.Now()
	if err := src.(vmm.Pauser).Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if err := src.(vmm.Snapshotter).CreateSnapshot(ctx, vmm.SnapshotSpec{StatePath: state}); err != nil {
		t.Fatal(err)
	}
	saved := time.Since(t0)
	ckpt, err := dm.Clone(ctx, disks.Disk{Path: srcDisk, Format: "raw", Strategy: disks.Copy}, filepath.Join(dir, "fork.disk"))
	if err != nil {
		t.Fatal(err)
	}
	cloned := time.Since(t0)
	if err := src.(vmm.Pauser).Resume(ctx); err != nil {
		t.Fatal(err)
	}
	frozen := time.Since(t0)
	mustSh(ctx, t, c, "date -s @"+strconv.FormatInt(time.Now().Unix(), 10))
	t.Logf("source frozen %v (pause + save %v, + disk clone %v, + resume); state file %s",
		frozen.Round(time.Millisecond), saved.Round(time.Millisecond), (cloned - saved).Round(time.Millisecond), fileSize(t, state))

	type fork struct {
		m vmm.Machine
		c *agentclient.Client
	}
	var forks []fork
	for i := 1; i <= 2; i++ {
		n := strconv.Itoa(i)
		disk, err := dm.Clone(ctx, ckpt, filepath.Join(dir, "k"+n+".ext4"))
		if err != nil {
			t.Fatal(err)
		}
		cfg, key := r.own(t, i, "exit 99") // a fork's main process is its source's: this never runs
		t0 := time.Now()
		m := r.start(ctx, t, r.spec(t, "k"+n, disk.Path, "tk"+n, macOf(i)), &vmm.RestoreSpec{StatePath: state, Resume: true})
		fc, err := r.g.dial(ctx, t, m, srcKey.PublicKey())
		if err != nil {
			t.Fatalf("fork %d with the source's host key: %v", i, err)
		}
		connected := time.Since(t0)
		t1 := time.Now()
		if err := fc.Reidentify(ctx, cfg, time.Now()); err != nil {
			t.Fatalf("re-identify fork %d: %v", i, err)
		}
		t.Logf("fork %d: Restore called → first handshake %v, → Reidentify answered %v; Reidentify round trip %v",
			i, connected.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		first := waitCount(ctx, t, fc, 0)
		if limit := before + 5 + int(time.Since(t0)/(100*time.Millisecond)); first < before || first > limit {
			t.Errorf("fork %d's counter at %d after the re-identify; %d before the checkpoint: want it to go on from there (≤ %d)", i, first, before, limit)
		}
		_ = fc.Close()
		if _, err := r.g.dial(ctx, t, m, srcKey.PublicKey()); !errors.Is(err, agentclient.ErrHostKeyMismatch) {
			t.Errorf("fork %d: a new connection pinning the source's key: %v; want a host key mismatch", i, err)
		}
		kc, err := r.g.dial(ctx, t, m, key.PublicKey())
		if err != nil {
			t.Fatalf("fork %d pinning its own key: %v", i, err)
		}
		forks = append(forks, fork{m: m, c: kc})
	}

	random := map[string]int{mustSh(ctx, t, c, "head -c 32 /dev/urandom | od -An -tx1"): 0}
	for i, f := range forks {
		n := i + 1
		checkApplied(ctx, t, r, f.c, n)
		if got := mustSh(ctx, t, f.c, "ip -o addr show dev eth0"); strings.Contains(got, r.net.addr(10).Addr().String()+"/") ||
			(srcLinkLocal != "" && strings.Contains(got, srcLinkLocal)) {
			t.Errorf("fork %d kept an address of its source (%v, %s):\n%s", n, r.net.addr(10), srcLinkLocal, got)
		}
		if got := mustSh(ctx, t, f.c, "cat /main.pid; kill -0 $(cat /main.pid) && echo alive"); got != mainPID+"\nalive" {
			t.Errorf("fork %d's main process: %q; want the source's (pid %s) running", n, got, mainPID)
		}
		a := waitCount(ctx, t, f.c, 0)
		time.Sleep(time.Second)
		if b := waitCount(ctx, t, f.c, 0); b <= a {
			t.Errorf("fork %d's counter stands at %d", n, b)
		}
		// Within a minute: the source's clock says 2001 (25 years off),
		// and a TCG guest's clock falls seconds behind on a loaded host.
		if d := atoi(mustSh(ctx, t, f.c, "date +%s")) - int(time.Now().Unix()); d < -60 || d > 5 {
			t.Errorf("fork %d's clock is %d s off the host's after the re-identify", n, d)
		}
		if got := mustSh(ctx, t, f.c, "cat /file"); got != "before-the-fork" {
			t.Errorf("fork %d /file = %q", n, got)
		}
		mustSh(ctx, t, f.c, "echo fork"+strconv.Itoa(n)+" > /after-fork"+strconv.Itoa(n)+" && sync")
		rnd := mustSh(ctx, t, f.c, "head -c 32 /dev/urandom | od -An -tx1")
		if j, ok := random[rnd]; ok {
			t.Errorf("fork %d read the same /dev/urandom bytes as guest %d: %s", n, j, rnd)
		}
		random[rnd] = n
		for _, other := range []int{0, 1, 2} {
			if other != n {
				if out, code := guestSh(ctx, t, f.c, "ping -c 1 -W 5 "+r.net.addr(10+other).Addr().String()); code != 0 {
					t.Errorf("fork %d cannot reach guest %d: %s", n, other, out)
				}
			}
		}
	}

	// The source went on as it was.
	mustSh(ctx, t, c, "echo source > /after-source && sync")
	checkApplied(ctx, t, r, c, 0)
	if a := waitCount(ctx, t, c, 0); a <= before+10 {
		t.Errorf("the source's counter at %d; %d before the checkpoint, seconds ago", a, before)
	}
	for i, g := range append([]*agentclient.Client{c}, forks[0].c, forks[1].c) {
		for _, f := range []string{"/after-source", "/after-fork1", "/after-fork2"} {
			_, code := guestSh(ctx, t, g, "test -e "+f)
			if mine := (i == 0 && f == "/after-source") || (i > 0 && f == "/after-fork"+strconv.Itoa(i)); (code == 0) != mine {
				t.Errorf("guest %d: %s exists = %v; want %v (each guest's writes are its own)", i, f, code == 0, mine)
			}
		}
	}
	if fdb := r.net.fdb(t); strings.Contains(fdb, macOf(0)+" dev tk") {
		t.Logf("a fork sent a frame with its source's MAC before its re-identify (the host's per-tap rules drop those):\n%s", fdb)
	}
	t.Logf("QEMU RSS: source %s, fork 1 %s, fork 2 %s", rss(t, src), rss(t, forks[0].m), rss(t, forks[1].m))
}

// waitCount reads the main process's counter, waiting until it is above
// min.
func waitCount(ctx context.Context, t *testing.T, c *agentclient.Client, minimum int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := atoi(waitFile(ctx, t, c, "/count"))
		if n > minimum {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("the counter stands at %d", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rss is m's VMM process's resident memory.
func rss(t *testing.T, m vmm.Machine) string {
	t.Helper()
	st, err := procfs.Proc.Status(m.Handles().Process.PID)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d MiB", st.RSSBytes>>20)
}

func fileSize(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d MiB", fi.Size()>>20)
}
