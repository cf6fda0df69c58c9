package e2e

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// writerMain is a main process that ignores SIGTERM and writes a file of
// random bytes each time /data/req names one, and exits 0 once
// /data/exit-now exists: files written by the VM's own workload.
const writerMain = `trap '' TERM; mkdir -p /data; rm -f /data/exit-now; while :; do
  if [ -e /data/req ]; then n=$(cat /data/req); head -c 65536 /dev/urandom > /data/main-$n; rm /data/req; fi
  [ -e /data/exit-now ] && exit 0
  sleep 0.1
done`

// cliFunc runs the banger CLI: stdout, stderr, exit code.
type cliFunc func(args ...string) (string, string, int)

// durable is one VM and every file written into it, by sha256.
type durable struct {
	cli   cliFunc
	t     *testing.T
	vm    string
	files map[string]string
	n     int
	// daemonLog, when set, is the daemon's log tail for failures.
	daemonLog func() string
}

func newDurable(t *testing.T, cli cliFunc, name string) *durable {
	t.Helper()
	d := &durable{cli: cli, t: t, files: map[string]string{}}
	d.vm = strings.TrimSpace(d.must("run", "-d", "--name", name, "busybox", "--", "sh", "-c", writerMain))
	t.Cleanup(func() { cli("rm", "-f", d.vm) })
	// The main process makes /data as it starts.
	d.must("exec", d.vm, "--", "sh", "-c", "until [ -d /data ]; do sleep 0.05; done")
	return d
}

// must runs the CLI and fails the test unless it exits 0.
func (d *durable) must(args ...string) string {
	d.t.Helper()
	out, errOut, code := d.cli(args...)
	if code != 0 {
		// What the guest said last: a failure here is rare and timing-bound.
		console, _, _ := d.cli("logs", "--console", "--tail", "40", d.vm)
		var daemon string
		if d.daemonLog != nil {
			daemon = d.daemonLog()
		}
		d.t.Fatalf("banger %s: exit %d\n%s%s\nthe VM's console, last lines:\n%s\ndaemon log tail:\n%s", strings.Join(args, " "), code, out, errOut, console, daemon)
	}
	return out
}

// fixtureCLI is the shared daemon's CLI as a cliFunc.
func fixtureCLI(f *fixture) cliFunc {
	return func(args ...string) (string, string, int) { return f.cli(nil, args...) }
}

// write puts three new files into the VM: one by cp, one by exec, one by
// the main process.
func (d *durable) write() {
	d.t.Helper()
	d.copyIn()
	d.writeInside()
}

// copyIn copies a new file of random bytes into the VM with `banger cp`.
func (d *durable) copyIn() {
	d.t.Helper()
	d.n++
	local := filepath.Join(d.t.TempDir(), "f")
	data := make([]byte, 256<<10)
	_, _ = rand.Read(data)
	if err := os.WriteFile(local, data, 0o600); err != nil {
		d.t.Fatal(err)
	}
	cpPath := fmt.Sprintf("/data/cp-%d", d.n)
	d.must("cp", local, d.vm+":"+cpPath)
	sum := sha256.Sum256(data)
	d.files[cpPath] = hex.EncodeToString(sum[:])
}

// writeInside writes a new file by exec and one by the main process.
func (d *durable) writeInside() {
	d.t.Helper()
	execPath := fmt.Sprintf("/data/exec-%d", d.n)
	d.files[execPath] = d.sum(fmt.Sprintf("head -c 131072 /dev/urandom > %s && sha256sum %s", execPath, execPath))

	mainPath := fmt.Sprintf("/data/main-%d", d.n)
	d.must("exec", d.vm, "--", "sh", "-c", fmt.Sprintf("echo %d > /data/req", d.n))
	deadline := time.Now().Add(30 * time.Second)
	for {
		if out, _, code := d.cli("exec", d.vm, "--", "sh", "-c", "[ ! -e /data/req ] && sha256sum "+mainPath); code == 0 {
			d.files[mainPath] = strings.Fields(out)[0]
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the main process did not write %s", mainPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *durable) sum(script string) string {
	d.t.Helper()
	out := d.must("exec", d.vm, "--", "sh", "-c", script)
	return strings.Fields(out)[0]
}

// verify checks every file written so far; it returns how many were lost
// or torn.
func (d *durable) verify() (lost int) {
	d.t.Helper()
	out := d.must("exec", d.vm, "--", "sh", "-c", "cd /data && sha256sum cp-* exec-* main-* 2>/dev/null; true")
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if fs := strings.Fields(l); len(fs) == 2 {
			got["/data/"+fs[1]] = fs[0]
		}
	}
	var paths []string
	for p := range d.files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if got[p] != d.files[p] {
			lost++
			d.t.Errorf("%s: sha256 %q after the VM ended, want %q", p, got[p], d.files[p])
		}
	}
	return lost
}

func (d *durable) state() string {
	d.t.Helper()
	var vms []api.VM
	if err := json.Unmarshal([]byte(d.must("inspect", d.vm)), &vms); err != nil || len(vms) != 1 {
		d.t.Fatalf("inspect %s: %d records, %v", d.vm, len(vms), err)
	}
	return string(vms[0].State)
}

// The ways a VM ends; each leaves it exited (restart leaves it running).
var endings = []struct {
	name string
	end  func(d *durable)
}{
	{"stop -t 1", func(d *durable) { d.must("stop", "-t", "1", d.vm) }},
	{"stop", func(d *durable) { d.must("stop", d.vm) }},
	{"kill", func(d *durable) { d.must("kill", d.vm) }},
	{"restart", func(d *durable) { d.must("restart", "-t", "1", d.vm) }},
	{"main exits", func(d *durable) {
		d.must("exec", d.vm, "--", "touch", "/data/exit-now")
		if out := strings.TrimSpace(d.must("wait", d.vm)); out != "0" {
			d.t.Errorf("wait after the main process exited 0 printed %q", out)
		}
	}},
}

// TestNoWriteLostWhateverEndsTheVM writes files by cp, by exec and by a
// main process that ignores SIGTERM, ends the VM each way a user can
// (five times each, then randomly: 50 rounds), starts it again and checks
// every file's sha256. A stop or kill never loses a written file: the
// guest syncs before it powers off, and cp returns once the copy is on
// disk.
func TestNoWriteLostWhateverEndsTheVM(t *testing.T) {
	f := env(t)
	d := newDurable(t, fixtureCLI(f), "durable")
	d.daemonLog = f.logTail
	const rounds = 50
	counts := map[string]int{}
	lost := 0
	for r := range rounds {
		e := endings[r%len(endings)]
		if r >= rounds/2 {
			n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(endings))))
			e = endings[n.Int64()]
		}
		d.write()
		e.end(d)
		counts[e.name]++
		if st := d.state(); e.name != "restart" {
			if st != "exited" {
				t.Fatalf("round %d (%s): state %s, want exited", r, e.name, st)
			}
			d.must("start", d.vm)
		}
		lost += d.verify()
		if t.Failed() {
			t.Fatalf("round %d (%s) lost files", r, e.name)
		}
	}
	t.Logf("%d rounds, %d files written, %d lost or torn; endings %v", rounds, len(d.files), lost, counts)
}

// The VMM SIGKILLed by hand (a host crash stand-in) right after cp
// returned: the copy is intact at the next start, because cp returns only
// once the guest synced it and QEMU's writeback cache honours the flush.
func TestCopyIsDurableWhenTheVMMIsKilled(t *testing.T) {
	f := env(t)
	d := newDurable(t, fixtureCLI(f), "vmmkill")
	d.daemonLog = f.logTail
	// Only cp promises durability before a stop: what exec and the main
	// process wrote may still be in the guest's page cache, as on any
	// machine that loses power.
	d.copyIn()
	pids := pidsOf(d.vm)
	if len(pids) != 1 {
		t.Fatalf("VMM processes: %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.must(t, "wait", d.vm)
	f.must(t, "start", d.vm)
	if lost := d.verify(); lost > 0 {
		t.Fatalf("%d files lost after the VMM was killed", lost)
	}
}

// wait prints the main process's exit status as docker wait does.
func TestWaitPrintsTheExitCode(t *testing.T) {
	f := env(t)
	for _, tt := range []struct {
		cmd  []string
		kill bool
		want string
	}{
		{[]string{"true"}, false, "0"},
		{[]string{"sh", "-c", "sleep 1; exit 3"}, false, "3"},
		{[]string{"sleep", "1000"}, true, "137"},
		{[]string{"no-such-command"}, false, "127"},
	} {
		id := strings.TrimSpace(f.must(t, append([]string{"run", "-d", "busybox", "--"}, tt.cmd...)...))
		if tt.kill {
			f.must(t, "kill", id)
		}
		if got := strings.TrimSpace(f.must(t, "wait", id)); got != tt.want {
			t.Errorf("%v: wait printed %q, want %q", tt.cmd, got, tt.want)
		}
		vm := f.inspect(t, id)
		if vm.State != "exited" || (tt.kill && (vm.ExitSignal != "KILL" || vm.Started.IsZero() || vm.Stopped.IsZero())) {
			t.Errorf("%v: state %s signal %q started %v stopped %v", tt.cmd, vm.State, vm.ExitSignal, vm.Started, vm.Stopped)
		}
		f.must(t, "rm", id)
	}
}

// A daemon SIGKILLed in the middle of a stop: the guest finishes the stop
// on its own (sync, power off), the restarted daemon records the exit,
// and every file is there at the next start. Five times.
func TestDaemonKilledDuringAStopLosesNothing(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	d := newDurable(t, pd.cli, "midstop")
	for i := range 5 {
		d.write()
		stop := exec.Command(f.banger, "--host", "unix://"+pd.sock, "stop", "-t", "1", d.vm)
		if err := stop.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(200+i*150) * time.Millisecond)
		pd.kill()
		_ = stop.Wait()
		pd.start(t)
		deadline := time.Now().Add(90 * time.Second)
		for d.state() != "exited" {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the VM did not end after its daemon died mid-stop", i)
			}
			time.Sleep(200 * time.Millisecond)
		}
		d.must("start", d.vm)
		if lost := d.verify(); lost > 0 {
			t.Fatalf("round %d: %d files lost", i, lost)
		}
	}
}
