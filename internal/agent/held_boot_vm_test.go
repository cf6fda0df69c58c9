package agent_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/vmm"
)

// A real held boot: the kernel mounts the root read-only (`ro`) and the
// agent writes nothing to it — the disk stays byte for byte the image —
// sets no hostname and no network. The apply makes the guest the VM: its
// hostname, its MAC on the NIC (seen on the host's bridge), its address
// (it reaches the gateway), resolv.conf, the root writable and grown, the
// main process run; the host's next connection meets the VM's own host
// key, and the hold key no longer gets in.
func TestHeldBootInQEMU(t *testing.T) {
	r := newHeldRig(t, "aghb")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	disk := r.disk(t, "a.ext4")
	m := r.start(ctx, t, r.spec(t, "a", disk, "ta0", macOf(0)), nil)
	c, err := r.g.dial(ctx, t, m, r.g.hostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(ctx); err != nil || !info.Held || !info.PID1 {
		t.Fatalf("info of a held boot: %+v, %v", info, err)
	}
	if got := mustSh(ctx, t, c, "grep ' / ' /proc/mounts"); !strings.Contains(got, " ro,") {
		t.Errorf("held root: %q; want it read-only", got)
	}
	if out, code := guestSh(ctx, t, c, "touch /written"); code == 0 {
		t.Errorf("a held root took a write: %s", out)
	}
	if got := mustSh(ctx, t, c, "hostname"); strings.HasPrefix(got, "held-vm") {
		t.Errorf("held hostname %q", got)
	}
	if got := mustSh(ctx, t, c, "cat /sys/class/net/eth0/address"); got != macOf(0) {
		t.Errorf("held eth0 MAC %q, want the VMM's %s", got, macOf(0))
	}
	if got := mustSh(ctx, t, c, "ip -o -4 addr show"); strings.Contains(got, "10.251.") {
		t.Errorf("held guest has an address: %q", got)
	}
	if !sameFile(t, disk, r.g.rootImg) {
		t.Error("the held boot changed its disk; it must stay the image's")
	}

	own, key := r.own(t, 1, "echo main-ran > /main.out; sync; exec sleep 3600")
	t0 := time.Now()
	if err := c.Apply(ctx, own, time.Now()); err != nil {
		t.Fatal(err)
	}
	t.Logf("apply round trip (cold held boot): %v", time.Since(t0).Round(time.Millisecond))
	nc := r.redial(ctx, t, m, c, key)
	if info, err := nc.Info(ctx); err != nil || info.Held || info.VMID != "own1" || info.Main != "running" {
		t.Errorf("info after the apply: %+v, %v", info, err)
	}
	checkApplied(ctx, t, r, nc, 1)
	if got := waitFile(ctx, t, nc, "/main.out"); got != "main-ran" {
		t.Errorf("/main.out = %q", got)
	}
	out := mustSh(ctx, t, nc, "df -k / | tail -1")
	if f := strings.Fields(out); len(f) < 2 || atoi(f[1]) < 80*1024 {
		t.Errorf("root after the apply's grow: %q; want the 96 MiB disk filled", out)
	}
	if got := mustSh(ctx, t, nc, "cat /etc/resolv.conf"); !strings.Contains(got, "nameserver "+r.net.addr(1).Addr().String()) {
		t.Errorf("resolv.conf: %q", got)
	}
	if fdb := r.net.fdb(t); !strings.Contains(fdb, macOf(1)+" dev ta0") {
		t.Errorf("the bridge never saw the VM's MAC %s on its tap:\n%s", macOf(1), fdb)
	}
}

// checkApplied checks guest i is the VM of r.own(t, i, ...): hostname
// (the kernel's and /etc/hostname), MAC, address, the gateway reachable,
// the root writable.
func checkApplied(ctx context.Context, t *testing.T, r *heldRig, c *agentclient.Client, i int) {
	t.Helper()
	if got := mustSh(ctx, t, c, "hostname; cat /etc/hostname"); got != "held-vm-"+strconv.Itoa(i)+"\nheld-vm-"+strconv.Itoa(i) {
		t.Errorf("guest %d hostname and /etc/hostname %q", i, got)
	}
	if got := mustSh(ctx, t, c, "cat /sys/class/net/eth0/address"); got != macOf(i) {
		t.Errorf("guest %d eth0 MAC %q, want %s", i, got, macOf(i))
	}
	if got := mustSh(ctx, t, c, "ip -o -4 addr show eth0"); !strings.Contains(got, " "+r.net.addr(10+i).String()+" ") {
		t.Errorf("guest %d eth0: %q; want %v", i, got, r.net.addr(10+i))
	}
	if got := mustSh(ctx, t, c, "grep ' / ' /proc/mounts"); !strings.Contains(got, " rw,") {
		t.Errorf("guest %d root after the apply: %q; want it read-write", i, got)
	}
	if out, code := guestSh(ctx, t, c, "ping -c 1 -W 5 "+r.net.addr(1).Addr().String()); code != 0 {
		t.Errorf("guest %d cannot reach its gateway: %s", i, out)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// One held VM saved (its memory in a file, its clock set wrong first) and
// restored twice, side by side, each on a fresh copy of the pristine
// image: the apply makes each its own VM — hostname, MAC, address (they
// reach each other: no duplicate MAC or IP), host key, clock (the
// host's, not the snapshot's), random state (their /dev/urandom
// differs) — and each restored disk takes writes that read back and
// pass e2fsck after a clean power off.
func TestHeldSnapshotRestoredTwice(t *testing.T) {
	r := newHeldRig(t, "aghs")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	srcDisk := r.disk(t, "src.ext4")
	spec := r.spec(t, "src", srcDisk, "ts0", macOf(0))
	spec.MemoryFile = filepath.Join(spec.RuntimeDir, "mem")
	src := r.start(ctx, t, spec, nil)
	c, err := r.g.dial(ctx, t, src, r.g.hostKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	// A clock far off: a restored guest that kept it fails the check below.
	if got := mustSh(ctx, t, c, "date -s @1000000000 >/dev/null && date +%s"); atoi(got) > 1000000100 {
		t.Fatalf("could not set the source's clock back: %q", got)
	}
	_ = c.Close()
	if err := src.(vmm.Pauser).Pause(ctx); err != nil {
		t.Fatal(err)
	}
	snap := vmm.SnapshotSpec{StatePath: filepath.Join(r.g.dir, "state"), MemPath: filepath.Join(r.g.dir, "mem")}
	if err := src.(vmm.Snapshotter).CreateSnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if err := src.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	if !sameFile(t, srcDisk, r.g.rootImg) {
		t.Error("the held source changed its disk: restored VMs on fresh copies of the image would not match its page cache")
	}

	type kid struct {
		m    vmm.Machine
		c    *agentclient.Client
		disk string
	}
	var kids []kid
	for i := 1; i <= 2; i++ {
		disk := r.disk(t, "k"+strconv.Itoa(i)+".ext4")
		ks := r.spec(t, "k"+strconv.Itoa(i), disk, "tk"+strconv.Itoa(i), macOf(i))
		own, key := r.own(t, i, "hostname > /main.out; sync; exec sleep 3600")
		t0 := time.Now()
		m := r.start(ctx, t, ks, &vmm.RestoreSpec{StatePath: snap.StatePath, MemPath: snap.MemPath, Resume: true})
		hc, err := r.g.dial(ctx, t, m, r.g.hostKey.PublicKey())
		if err != nil {
			t.Fatalf("restored guest %d with the snapshot's hold key: %v", i, err)
		}
		connected := time.Since(t0)
		// The second guest shows what the apply has to undo; the first
		// measures Restore to Apply with nothing in between.
		if got := ""; i == 2 {
			if got = mustSh(ctx, t, hc, "cat /sys/class/net/eth0/address"); got != macOf(0) {
				t.Errorf("restored guest %d before the apply has MAC %q; want the source's %s", i, got, macOf(0))
			}
		}
		t1 := time.Now()
		if err := hc.Apply(ctx, own, time.Now()); err != nil {
			t.Fatalf("apply to restored guest %d: %v", i, err)
		}
		t.Logf("restored guest %d: Restore called → first handshake %v, → Apply answered %v; Apply round trip %v",
			i, connected.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
		kids = append(kids, kid{m: m, c: r.redial(ctx, t, m, hc, key), disk: disk})
	}

	var random []string
	for i, k := range kids {
		n := i + 1
		checkApplied(ctx, t, r, k.c, n)
		if got := waitFile(ctx, t, k.c, "/main.out"); got != "held-vm-"+strconv.Itoa(n) {
			t.Errorf("guest %d main wrote %q", n, got)
		}
		// Within a minute: the source's clock says 2001 (25 years off),
		// and a TCG guest's clock falls seconds behind on a loaded host.
		if d := atoi(mustSh(ctx, t, k.c, "date +%s")) - int(time.Now().Unix()); d < -60 || d > 5 {
			t.Errorf("guest %d clock is %d s off the host's after the apply", n, d)
		}
		random = append(random, mustSh(ctx, t, k.c, "head -c 32 /dev/urandom | od -An -tx1"))
		if got := mustSh(ctx, t, k.c, "echo kid"+strconv.Itoa(n)+" > /restored && sync && cat /restored"); got != "kid"+strconv.Itoa(n) {
			t.Errorf("guest %d /restored = %q", n, got)
		}
		other := r.net.addr(10 + 2 - i).Addr().String()
		if out, code := guestSh(ctx, t, k.c, "ping -c 1 -W 5 "+other); code != 0 {
			t.Errorf("guest %d cannot reach the other restored guest at %s: %s", n, other, out)
		}
	}
	if random[0] == random[1] {
		t.Errorf("both restored guests read the same /dev/urandom bytes: %s", random[0])
	}
	fdb := r.net.fdb(t)
	for i := 1; i <= 2; i++ {
		if !strings.Contains(fdb, macOf(i)+" dev tk"+strconv.Itoa(i)) {
			t.Errorf("the bridge never saw guest %d's MAC %s on its tap:\n%s", i, macOf(i), fdb)
		}
	}
	if strings.Contains(fdb, macOf(0)) {
		t.Errorf("a restored guest sent frames with the snapshot's MAC %s:\n%s", macOf(0), fdb)
	}

	// A clean power off, then the host checks the disk.
	k := kids[0]
	if err := k.c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
	defer wcancel()
	if _, err := k.m.Wait(wctx); err != nil {
		t.Fatalf("restored guest 1 did not power off: %v", err)
	}
	if out, err := exec.CommandContext(ctx, "e2fsck", "-fn", k.disk).CombinedOutput(); err != nil {
		t.Errorf("e2fsck of restored guest 1's disk: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, "debugfs", "-R", "cat /restored", k.disk).Output(); err != nil || string(out) != "kid1\n" {
		t.Errorf("/restored on restored guest 1's disk: %q, %v", out, err)
	}
}
