package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDetachedVMExecCopyLogsStopStart(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "dev", "busybox"))
	if len(id) != 12 {
		t.Fatalf("run -d printed %q, want the VM id", id)
	}
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })

	// No main process (busybox sets no cmd): nothing to attach to.
	if _, errOut, code := f.cli(nil, "attach", "dev"); code != 125 || !strings.Contains(errOut, "no main process") {
		t.Errorf("attach to a VM without a main process: exit %d, %q", code, errOut)
	}

	// exec: exit codes, output, env, user.
	if out := f.must(t, "exec", "dev", "--", "uname", "-r"); !strings.Contains(out, "cloud-amd64") {
		t.Errorf("uname -r = %q", out)
	}
	if _, _, code := f.cli(nil, "exec", "dev", "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec exit code %d, want 7", code)
	}
	if out := f.must(t, "exec", "-e", "X=1", "-u", "1000", "dev", "--", "sh", "-c", "echo $X $(id -u)"); out != "1 1000\n" {
		t.Errorf("exec env/user: %q", out)
	}

	// cp both ways, a tree with modes.
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "tree", "sub", "f"), []byte("payload"), 0o640); err != nil {
		t.Fatal(err)
	}
	f.must(t, "cp", filepath.Join(src, "tree"), "dev:/root/tree")
	if out := f.must(t, "exec", "dev", "--", "stat", "-c", "%a %s", "/root/tree/sub/f"); out != "640 7\n" {
		t.Errorf("copied file in the guest: %q, want mode 640 size 7", out)
	}
	dst := t.TempDir()
	f.must(t, "cp", "dev:/root/tree", filepath.Join(dst, "back"))
	if b, err := os.ReadFile(filepath.Join(dst, "back", "sub", "f")); err != nil || string(b) != "payload" {
		t.Errorf("copied back: %q, %v", b, err)
	}

	// A file written on the VM disk survives stop and start.
	f.must(t, "exec", "dev", "--", "sh", "-c", "echo kept > /root/kept && sync")
	f.must(t, "stop", "dev")
	if vm := f.inspect(t, "dev"); vm.State != "exited" || vm.Runtime.PID != 0 {
		t.Errorf("after stop: state %s pid %d", vm.State, vm.Runtime.PID)
	}
	if pids := pidsOf(id); len(pids) != 0 {
		t.Errorf("VMM processes after stop: %v", pids)
	}
	f.must(t, "start", "dev")
	if out := f.must(t, "exec", "dev", "--", "cat", "/root/kept"); out != "kept\n" {
		t.Errorf("after stop/start: %q", out)
	}

	// logs: the serial console, which holds the previous power-off.
	if out := f.must(t, "logs", "--console", "dev"); !strings.Contains(out, "reboot: Power down") {
		t.Errorf("console log lacks the previous shutdown:\n%s", out)
	}

	vm := f.inspect(t, "dev")
	if vm.Runtime.DiskStrategy == "" || vm.Runtime.IP == "" || vm.Runtime.Tap != "bg-"+id {
		t.Errorf("runtime %+v", vm.Runtime)
	}
	f.must(t, "rm", "-f", "dev")
	f.assertNoTrace(t, id)
}

func TestRmRefusesRunningVM(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	_, errOut, code := f.cli(nil, "rm", id)
	if code == 0 || !strings.Contains(errOut, "it is running") {
		t.Fatalf("rm of a running VM: exit %d, %q", code, errOut)
	}
	if len(pidsOf(id)) != 1 {
		t.Fatal("a refused rm must leave the VM running")
	}
}

func TestGuestPanicEndsInError(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	// sysrq-c crashes the kernel on purpose.
	f.cli(nil, "exec", id, "--", "sh", "-c", "echo c > /proc/sysrq-trigger")
	f.cli(nil, "wait", id)
	vm := f.inspect(t, id)
	if vm.State != "error" || vm.ErrorPhase != "guest" || !strings.Contains(vm.Error, "Kernel panic") {
		t.Fatalf("after a guest panic: state %q phase %q error %q", vm.State, vm.ErrorPhase, vm.Error)
	}
	if len(vm.ConsoleTail) == 0 || !strings.Contains(vm.ConsoleTail[0], "Kernel panic") {
		t.Errorf("console tail should start at the panic: %q", vm.ConsoleTail)
	}
	if len(pidsOf(id)) != 0 {
		t.Error("the VMM of a panicked guest is still running")
	}
	f.must(t, "rm", id)
	f.assertNoTrace(t, id)
}

// TestLogsFollowEndsWhenTheVMStops: logs -f streams the console and
// returns once the VM is gone.
func TestLogsFollowEndsWhenTheVMStops(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	type result struct {
		out  string
		code int
	}
	done := make(chan result, 1)
	go func() {
		out, _, code := f.cli(nil, "logs", "--console", "-f", id)
		done <- result{out, code}
	}()
	select {
	case r := <-done:
		t.Fatalf("logs -f returned while the VM runs: exit %d\n%s", r.code, r.out)
	case <-time.After(500 * time.Millisecond):
	}
	f.must(t, "stop", id)
	select {
	case r := <-done:
		if r.code != 0 || !strings.Contains(r.out, "reboot: Power down") {
			t.Fatalf("logs -f: exit %d, output lacks the power-off:\n%s", r.code, r.out)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not return after the VM stopped")
	}
}

// TestInitHandsPID1ToTheImage: with --init the image's own /sbin/init is
// PID 1 and the agent keeps serving exec as its child.
func TestInitHandsPID1ToTheImage(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--init", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	out := f.must(t, "exec", id, "--", "sh", "-c", "readlink /proc/1/exe; cat /proc/1/cmdline | tr '\\0' ' '")
	if !strings.Contains(out, "busybox") || strings.Contains(out, ".banger/agent") {
		t.Fatalf("PID 1 is not the image's init:\n%s", out)
	}
	t0 := time.Now()
	f.must(t, "stop", id)
	t.Logf("stop took %v", time.Since(t0))
	if vm := f.inspect(t, id); vm.State != "exited" {
		t.Fatalf("after stop: %s (%s)", vm.State, vm.Error)
	}
	// The image's init powered the guest off; the VMM was not killed.
	if out := f.must(t, "logs", "--console", "--tail", "3", id); !strings.Contains(out, "Power down") {
		t.Errorf("the guest did not power off cleanly under its own init:\n%s", out)
	}
}
