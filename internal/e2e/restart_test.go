package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
)

// untilVM polls inspect until ok holds for the VM, failing the test after
// timeout with the last record.
func untilVM(t *testing.T, inspect func() api.VM, timeout time.Duration, what string, ok func(api.VM) bool) api.VM {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		vm := inspect()
		if ok(vm) {
			return vm
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: state %s, restart count %d, exit %v, error %q", what, vm.State, vm.RestartCount, vm.ExitCode, vm.Error)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// --restart on-failure:2 runs a failing command three times, each run a
// normal start of the same VM on the same disk, then leaves it exited
// with the command's code. The command appends to a file on the VM's own
// disk and copies it to a shared directory, which the host reads: three
// lines, so the disk was kept across the restarts.
func TestRestartPolicyOnFailure(t *testing.T) {
	f := env(t)
	dir := hostDir(t, f, "restart-count")
	f.must(t, "run", "-d", "--name", "rs-fail", "--restart", "on-failure:2", "-v", dir+":/data", "busybox",
		"sh", "-c", "echo x >> /root/count; cp /root/count /data/count; exit 3")
	defer f.cli(nil, "rm", "-f", "rs-fail")
	inspect := func() api.VM { return f.inspect(t, "rs-fail") }
	vm := untilVM(t, inspect, 3*time.Minute, "two restarts, then exited", func(vm api.VM) bool {
		return vm.State == api.VMExited && vm.RestartCount == 2
	})
	if vm.ExitCode == nil || *vm.ExitCode != 3 || vm.Spec.Restart != (api.RestartPolicy{Name: "on-failure", MaxRetries: 2}) || vm.Restarted.IsZero() {
		t.Fatalf("after the last run: exit %v, policy %+v, restarted %v", vm.ExitCode, vm.Spec.Restart, vm.Restarted)
	}
	b, err := os.ReadFile(filepath.Join(dir, "count"))
	if err != nil || string(b) != "x\nx\nx\n" {
		t.Fatalf("the runs' count file: %q, %v; want three lines", b, err)
	}
	time.Sleep(2 * time.Second)
	if vm := inspect(); vm.State != api.VMExited || vm.RestartCount != 2 || len(pidsOf(vm.ID)) != 0 {
		t.Fatalf("on-failure went past MAX: state %s, count %d, VMMs %v", vm.State, vm.RestartCount, pidsOf(vm.ID))
	}
	out := f.must(t, "inspect", "--format", "table", "rs-fail")
	for _, want := range []string{"Restart policy:", "on-failure:2", "Restart count:"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect does not say %q:\n%s", want, out)
		}
	}
	if _, errOut, code := f.cli(nil, "run", "--rm", "--restart", "always", "busybox", "true"); code != 125 || !strings.Contains(errOut, "--restart and --rm conflict") {
		t.Errorf("run --rm --restart: exit %d, %q", code, errOut)
	}
}

// --restart always restarts a command that exits 0; wait returns at each
// exit (docker's); stop ends it for good.
func TestRestartPolicyAlwaysAndStop(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "rs-always", "--restart", "always", "busybox", "sh", "-c", "sleep 1; exit 0"))
	defer f.cli(nil, "rm", "-f", "rs-always")
	if out := f.must(t, "wait", "rs-always"); out != "0\n" {
		t.Fatalf("wait printed %q; want the exit code 0 of the first run", out)
	}
	inspect := func() api.VM { return f.inspect(t, "rs-always") }
	untilVM(t, inspect, 2*time.Minute, "two restarts", func(vm api.VM) bool { return vm.RestartCount >= 2 })
	vm := f.inspect(t, "rs-always")
	if vm.State != api.VMRunning && vm.State != api.VMRestarting {
		t.Fatalf("state %s between runs", vm.State)
	}
	f.must(t, "stop", "rs-always")
	vm = inspect()
	count := vm.RestartCount
	time.Sleep(3 * time.Second)
	if vm = inspect(); vm.State != api.VMExited || vm.RestartCount != count || len(pidsOf(id)) != 0 {
		t.Fatalf("after stop: state %s, count %d (was %d), VMMs %v; want it stopped for good", vm.State, vm.RestartCount, count, pidsOf(id))
	}
	if out := f.must(t, "ps", "-a", "--filter", "name=rs-always", "--format", "{{.State}}"); out != "exited\n" {
		t.Errorf("ps says %q", out)
	}
}

// A daemon SIGKILLed while a VM with --restart always runs: the next one
// adopts it and restarts it when it exits; a VM that exits while no
// daemon runs is restarted by the next daemon's reconcile.
func TestRestartPolicySurvivesDaemonKill(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	id := strings.TrimSpace(pd.run(t, "run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sh", "-c", "sleep 6; exit 0"))
	inspect := func() api.VM {
		var vms []api.VM
		if err := json.Unmarshal([]byte(pd.run(t, "inspect", "--type", "vm", "phoenix")), &vms); err != nil || len(vms) != 1 {
			t.Fatalf("inspect: %v", err)
		}
		return vms[0]
	}
	before := pidsOf(id)
	pd.kill()
	pd.start(t)
	if after := pidsOf(id); len(before) != 1 || len(after) != 1 || after[0] != before[0] {
		t.Fatalf("not adopted: VMM %v before, %v after", before, after)
	}
	count := untilVM(t, inspect, 2*time.Minute, "the adopted VM restarted after its exit", func(vm api.VM) bool {
		return vm.State == api.VMRunning && vm.RestartCount >= 1
	}).RestartCount

	// Killed again; the VM's command ends while no daemon runs.
	pd.kill()
	deadline := time.Now().Add(time.Minute)
	for len(pidsOf(id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if left := pidsOf(id); len(left) > 0 {
		t.Fatalf("the VM did not end on its own: VMMs %v", left)
	}
	pd.start(t)
	untilVM(t, inspect, 2*time.Minute, "reconcile's restart", func(vm api.VM) bool {
		return vm.State == api.VMRunning && vm.RestartCount > count && len(pidsOf(id)) == 1
	})
	pd.run(t, "stop", "phoenix")
	if vm := inspect(); vm.State != api.VMExited {
		t.Fatalf("after stop: %s", vm.State)
	}
	pd.run(t, "rm", "phoenix")
}
