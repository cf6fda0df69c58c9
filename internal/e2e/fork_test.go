package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// forkCounter is the source's main process: it says its pid, then counts
// in /count every 100 ms, renaming each value into place (a reader never
// sees the file between truncate and write).
const forkCounter = "echo $$ > /main.pid; i=0; while :; do i=$((i+1)); echo $i > /count.new; mv /count.new /count; sleep 0.1; done"

// A running VM (its main process counting, a file written) forked twice
// with `banger fork -n 2`: each fork has the file, its counter goes on
// from the checkpoint (the source's main process, same pid, never
// restarted), its own hostname, address and MAC in the guest; the source
// runs on unaffected, and what each writes afterwards stays its own. The
// checkpoint is gone after the fork; `banger stop` ends a fork's main
// process as any VM's; removing the forks and the source leaves nothing.
func TestForkRunningVM(t *testing.T) {
	f := env(t)
	f.must(t, "run", "-d", "--name", "fk-src", "busybox", "sh", "-c", forkCounter)
	t.Cleanup(func() { f.cli(nil, "rm", "-f", "fk-src", "fk-1", "fk-2") })
	sh := func(vm, cmd string) string {
		t.Helper()
		return strings.TrimSpace(f.must(t, "exec", vm, "--", "sh", "-c", cmd))
	}
	count := func(vm string) int {
		t.Helper()
		n, err := strconv.Atoi(sh(vm, "cat /count"))
		if err != nil {
			t.Fatalf("%s: /count: %v", vm, err)
		}
		return n
	}
	sh("fk-src", "echo before-the-fork > /file && sync")
	mainPID := sh("fk-src", "cat /main.pid")
	before := count("fk-src")

	var res struct {
		Checkpoint api.Checkpoint `json:"checkpoint"`
		VMs        []api.VM       `json:"vms"`
	}
	t0 := time.Now()
	out, errOut, code := f.cli(nil, "fork", "-n", "2", "--name", "fk", "--format", "json", "fk-src")
	if code != 0 {
		t.Fatalf("fork: exit %d\n%s\n%s\n%s", code, out, errOut, f.logTail())
	}
	took := time.Since(t0)
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.VMs) != 2 {
		t.Fatalf("fork's JSON: %v, %q", err, out)
	}
	t.Logf("fork -n 2: %v; the source was frozen %.0f ms; progress:\n%s", took.Round(time.Millisecond), res.Checkpoint.FrozenMS, errOut)
	if res.Checkpoint.FrozenMS <= 0 || !strings.Contains(errOut, "frozen") {
		t.Errorf("the frozen time: %v ms, progress %q", res.Checkpoint.FrozenMS, errOut)
	}
	src := f.inspect(t, "fk-src")
	seen := map[string]string{src.Runtime.IP: "fk-src", src.Runtime.MAC: "fk-src"}
	for i, want := range []string{"fk-1", "fk-2"} {
		vm := f.inspect(t, want)
		if res.VMs[i].Name != want || vm.State != api.VMRunning {
			t.Fatalf("fork %d: %s %s; want %s running", i+1, res.VMs[i].Name, vm.State, want)
		}
		if vm.Forked == nil || vm.Forked.VMName != "fk-src" || vm.Forked.VM != src.ID || vm.Forked.CheckpointID != res.Checkpoint.ID {
			t.Errorf("%s: forked %+v", want, vm.Forked)
		}
		for _, v := range []string{vm.Runtime.IP, vm.Runtime.MAC} {
			if other, ok := seen[v]; ok || v == "" {
				t.Errorf("%s has %q, as %s does", want, v, other)
			}
			seen[v] = want
		}
		if got := sh(want, "hostname; cat /sys/class/net/eth0/address; ip -4 -o addr show dev eth0"); !strings.HasPrefix(got, want+"\n"+vm.Runtime.MAC+"\n") ||
			!strings.Contains(got, " "+vm.Runtime.IP+"/") || strings.Contains(got, " "+src.Runtime.IP+"/") {
			t.Errorf("%s's guest identity:\n%s\nwant hostname %s, MAC %s, address %s only", want, got, want, vm.Runtime.MAC, vm.Runtime.IP)
		}
		if got := sh(want, "cat /file"); got != "before-the-fork" {
			t.Errorf("%s: /file = %q", want, got)
		}
		if got := sh(want, "cat /main.pid; kill -0 $(cat /main.pid) && echo alive"); got != mainPID+"\nalive" {
			t.Errorf("%s's main process: %q; want the source's (pid %s) running", want, got, mainPID)
		}
		a := count(want)
		if a < before {
			t.Errorf("%s's counter at %d; it was %d before the checkpoint: want it to go on from there", want, a, before)
		}
		time.Sleep(time.Second)
		if b := count(want); b <= a {
			t.Errorf("%s's counter stands at %d", want, b)
		}
		sh(want, "echo "+want+" > /after-"+want+" && sync")
	}
	sh("fk-src", "echo src > /after-fk-src && sync")
	for _, vm := range []string{"fk-src", "fk-1", "fk-2"} {
		for _, other := range []string{"fk-src", "fk-1", "fk-2"} {
			_, _, code := f.cli(nil, "exec", vm, "--", "test", "-e", "/after-"+other)
			if (code == 0) != (vm == other) {
				t.Errorf("%s: /after-%s exists = %v; each VM's writes are its own", vm, other, code == 0)
			}
		}
	}
	if a := count("fk-src"); a <= before {
		t.Errorf("the source's counter at %d, %d before the fork", a, before)
	}
	if got := f.inspect(t, "fk-src"); got.State != api.VMRunning || got.Runtime.PID != src.Runtime.PID {
		t.Errorf("the source after the fork: %s pid %d (was %d)", got.State, got.Runtime.PID, src.Runtime.PID)
	}
	if out := strings.TrimSpace(f.must(t, "checkpoint", "ls", "-q")); out != "" {
		t.Errorf("checkpoints left after fork without --keep: %s", out)
	}
	// A fork's main process ends as any VM's: stop, then its exit.
	f.must(t, "stop", "fk-1")
	if got := f.inspect(t, "fk-1"); got.State != api.VMExited || got.ExitCode == nil {
		t.Errorf("fk-1 after stop: %s, exit %v", got.State, got.ExitCode)
	}
	ids := []string{src.ID, f.inspect(t, "fk-1").ID, f.inspect(t, "fk-2").ID}
	f.must(t, "rm", "-f", "fk-src", "fk-1", "fk-2")
	for _, id := range ids {
		f.assertNoTrace(t, id)
	}
	f.assertNoOrphans(t)
}
