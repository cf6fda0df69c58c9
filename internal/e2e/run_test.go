package e2e

import (
	"strings"
	"testing"
)

func TestRunOutputExitCodeAndNoTrace(t *testing.T) {
	f := env(t)
	out, errOut, code := f.cli(nil, "run", "--name", "exit3", "busybox", "--", "sh", "-c", "uname -s; echo to-stderr >&2; exit 3")
	if code != 3 {
		t.Fatalf("exit code %d, want the guest command's 3\nstderr: %s\n%s", code, errOut, f.logTail())
	}
	if out != "Linux\n" {
		t.Errorf("stdout %q, want the guest's uname", out)
	}
	if !strings.Contains(errOut, "to-stderr") {
		t.Errorf("stderr %q lacks the guest's stderr", errOut)
	}
	vm := f.inspect(t, "exit3")
	if vm.State != "exited" || vm.ExitCode == nil || *vm.ExitCode != 3 {
		t.Errorf("after exit: state %s exit %v, want stopped with 3", vm.State, vm.ExitCode)
	}
	// What run printed is what the daemon kept.
	if kept, keptErr, _ := f.cli(nil, "logs", "exit3"); kept != out || keptErr != "to-stderr\n" {
		t.Errorf("logs: stdout %q stderr %q, want %q and the stderr line", kept, keptErr, out)
	}
	f.must(t, "rm", "exit3")
	f.assertNoTrace(t, vm.ID)
}

func TestRunRmLeavesNothing(t *testing.T) {
	f := env(t)
	out, errOut, code := f.cli(nil, "run", "--rm", "--name", "gone", "busybox", "--", "cat", "/proc/cmdline")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "banger.cfg=/dev/vdb") || strings.Contains(out, "PRIVATE KEY") {
		t.Errorf("guest cmdline %q: want the config drive named and no secret", out)
	}
	if _, _, code := f.cli(nil, "inspect", "gone"); code == 0 {
		t.Fatal("--rm left the VM record")
	}
	// The id is gone with the record; the inventory must hold nothing of
	// any VM now (this test runs alone on the fixture's daemon).
	f.assertNoOrphans(t)
}

func TestRunStdinEnvUserWorkdir(t *testing.T) {
	f := env(t)
	out, errOut, code := f.cli(strings.NewReader("from-stdin\n"), "run", "--rm", "-i",
		"-e", "GREETING=hello world", "-u", "1000", "-w", "/tmp",
		"busybox", "--", "sh", "-c", `cat; echo "$GREETING"; id -u; pwd`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "from-stdin\nhello world\n1000\n/tmp\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

func TestRunTimings(t *testing.T) {
	f := env(t)
	_, errOut, code := f.cli(nil, "run", "--rm", "--timings", "busybox", "--", "true")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	timings := timingsOf(t, errOut)
	// A restored start's VMM phase is "restore" (boot snapshots).
	vmmPhase := "vmm"
	if timings["boot"] == "restored" {
		vmmPhase = "restore"
	} else if timings["boot"] != "cold" {
		t.Errorf("boot = %v, want cold or restored", timings["boot"])
	}
	for _, phase := range []string{"image", "kernel", "backend", "disk", "network", "rundir", "bootcfg", vmmPhase, "agent", "command", "teardown", "total"} {
		if v, ok := timings[phase].(float64); !ok || v < 0 {
			t.Errorf("phase %s: %v (present: %v)", phase, timings[phase], ok)
		}
	}
	agent, _ := timings["agent"].(float64) // missing: reported above
	if total, _ := timings["total"].(float64); agent >= total {
		t.Errorf("boot to agent %v >= total %v", timings["agent"], timings["total"])
	}
}

func TestNetworkNone(t *testing.T) {
	f := env(t)
	out, errOut, code := f.cli(nil, "run", "--rm", "--network", "none", "busybox", "--", "ls", "/sys/class/net")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.TrimSpace(out) != "lo" {
		t.Errorf("interfaces %q, want only lo", out)
	}
}

// TestDiskGrow: --disk sets the disk's size; the guest grows its root file
// system online before the command runs.
func TestDiskGrow(t *testing.T) {
	f := env(t)
	out := f.must(t, "run", "--rm", "--disk", "1G", "busybox", "--", "df", "-k", "/")
	// The busybox image is 64 MiB; a 1 GiB disk leaves well over 900 MiB
	// (and much less than the 8 GiB default).
	if size := dfSizeKiB(out); size < 900*1024 || size > 1<<20 {
		t.Fatalf("root file system is %d KiB after --disk 1G:\n%s", size, out)
	}
}

// TestRunAndExecOnATerminal: -t runs the command on a pseudo-terminal in
// the guest (24x80 when the client's stdin is no terminal).
func TestRunAndExecOnATerminal(t *testing.T) {
	f := env(t)
	out := f.must(t, "run", "--rm", "-t", "busybox", "--", "sh", "-c", "tty; stty size")
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "24 80") {
		t.Errorf("run -t: %q", out)
	}
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	out = f.must(t, "exec", "-t", id, "--", "sh", "-c", "tty; echo $TERM")
	if !strings.Contains(out, "/dev/pts/") {
		t.Errorf("exec -t: %q", out)
	}
	if out, _, code := f.cli(nil, "exec", id, "--", "tty"); code != 1 || !strings.Contains(out, "not a tty") {
		t.Errorf("exec without -t: exit %d, %q; want tty's 1 and \"not a tty\"", code, out)
	}
}
