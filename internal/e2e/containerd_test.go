package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/containershim"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/api"
)

// TestContainerdShim runs containers through a real containerd (the
// release the shim is built with) with the banger runtime: ctr run's
// output arrives and its exit status is the container's; a task pauses
// and resumes, has metrics and runs an exec (its output, its exit
// status, the task still running after); ctr task kill gives the
// signal's status; a SIGKILLed shim's VM is removed by containerd's
// cleanup; after each, neither the VM, its tap, its processes nor the
// shim are left.
func TestContainerdShim(t *testing.T) {
	f := env(t)
	c := startContainerd(t, f)
	ref := c.pullBusybox(t)
	t.Cleanup(func() { f.removeImages(t, "containerd/rootfs") })

	t.Run("run", func(t *testing.T) {
		id := "shim-run"
		vm := f.watchVM(t, containershim.VMName("default", id))
		out, errOut, code := c.Ctr(t.Context(), "run", "--rm", "--runtime", containershim.RuntimeName, ref, id, "sh", "-c", "echo hello; exit 3")
		if code != 3 || out != "hello\n" {
			t.Fatalf("ctr run: exit %d, stdout %q, stderr %q; want 3 and hello", code, out, errOut)
		}
		c.assertGone(t, f, id, vm())
	})

	t.Run("kill", func(t *testing.T) {
		id := "shim-kill"
		vm := f.watchVM(t, containershim.VMName("default", id))
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		run := exec.CommandContext(ctx, c.CtrBin, "--address", c.Sock, "run", "--rm", "--runtime", containershim.RuntimeName, ref, id, "sleep", "600") //nolint:gosec // the test's ctr
		var stderr bytes.Buffer
		run.Stderr = &stderr
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- run.Wait() }()
		c.waitRunning(t, id, exited, &stderr)
		for _, step := range []struct{ cmd, status string }{{"pause", "PAUSED"}, {"resume", "RUNNING"}} {
			if out, errOut, code := c.Ctr(t.Context(), "task", step.cmd, id); code != 0 {
				t.Fatalf("ctr task %s: exit %d\n%s%s", step.cmd, code, out, errOut)
			}
			c.waitStatus(t, id, step.status, exited, &stderr)
		}
		c.assertMetrics(t, id)
		// An exec runs in the task's VM beside its main process: its
		// output and exit status are its own.
		if out, errOut, code := c.Ctr(t.Context(), "task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo in-vm; exit 4"); code != 4 || out != "in-vm\n" {
			t.Fatalf("ctr task exec: exit %d, stdout %q, stderr %q; want 4 and in-vm", code, out, errOut)
		}
		c.assertTTYExec(t, id)
		c.assertKillExec(t, id)
		c.waitStatus(t, id, "RUNNING", exited, &stderr)
		if out, errOut, code := c.Ctr(t.Context(), "task", "kill", "--signal", "SIGTERM", id); code != 0 {
			t.Fatalf("ctr task kill: exit %d\n%s%s", code, out, errOut)
		}
		err := <-exited
		if code := run.ProcessState.ExitCode(); code != 143 {
			t.Fatalf("ctr run after SIGTERM: exit %d (%v), want 143\n%s", code, err, stderr.String())
		}
		c.assertGone(t, f, id, vm())
	})

	t.Run("dead shim", func(t *testing.T) {
		id := "shim-dead"
		vm := f.watchVM(t, containershim.VMName("default", id))
		if out, errOut, code := c.Ctr(t.Context(), "run", "-d", "--runtime", containershim.RuntimeName, ref, id, "sleep", "600"); code != 0 {
			t.Fatalf("ctr run -d: exit %d\n%s%s", code, out, errOut)
		}
		c.waitRunning(t, id, nil, nil)
		socket := c.shimSocket(t, id)
		for _, pid := range c.ShimPids(id) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
		// containerd sees the shim gone and runs its delete action.
		name := containershim.VMName("default", id)
		for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(200 * time.Millisecond) {
			if _, _, code := f.cli(nil, "inspect", name); code != 0 {
				break
			}
		}
		if out, errOut, code := c.Ctr(t.Context(), "containers", "rm", id); code != 0 {
			t.Errorf("ctr containers rm: exit %d\n%s%s", code, out, errOut)
		}
		if _, err := os.Stat(socket); err == nil {
			t.Errorf("the killed shim's socket %s is left", socket)
		}
		c.assertGone(t, f, id, vm())
	})
}

// assertTTYExec runs ctr task exec -t on a terminal of script(1)'s (ctr
// wants its stdin to be one): the exec's process has a terminal of its
// own in the guest and exits with its status.
func (c *containerd) assertTTYExec(t *testing.T, id string) {
	t.Helper()
	script, err := exec.LookPath("script")
	if err != nil {
		testutil.Skip(t, "script (Debian's bsdutils) not installed: no terminal for ctr task exec -t")
	}
	line := fmt.Sprintf("%s --address %s task exec -t --exec-id e2 %s sh -c 'tty; exit 5'", c.CtrBin, c.Sock, id)
	cmd := exec.CommandContext(t.Context(), script, "-qefc", line, "/dev/null") //nolint:gosec // the test's ctr
	out, err := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 5 || !strings.Contains(string(out), "/dev/pts/") {
		t.Fatalf("ctr task exec -t: exit %d (%v), output %q; want 5 and a /dev/pts terminal", code, err, out)
	}
}

// assertKillExec starts a long exec and signals it by its exec id: ctr
// task exec exits 143 and the task runs on.
func (c *containerd) assertKillExec(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, c.CtrBin, "--address", c.Sock, "task", "exec", "--exec-id", "e3", id, "sh", "-c", "echo up; exec sleep 600") //nolint:gosec // the test's ctr
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	// Signal it once it runs: a kill that reaches an exec containerd has
	// added but not yet started ends it before it starts (ctr then exits
	// 1), which is not what this checks.
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "up\n" {
		t.Fatalf("ctr task exec: first line %q (%v), want up", line, err)
	}
	if _, errOut, code := c.Ctr(ctx, "task", "kill", "--exec-id", "e3", "--signal", "SIGTERM", id); code != 0 {
		t.Fatalf("ctr task kill --exec-id e3: exit %d\n%s", code, errOut)
	}
	err = run.Wait()
	if code := run.ProcessState.ExitCode(); code != 143 {
		t.Fatalf("ctr task exec after SIGTERM to it: exit %d (%v), want 143", code, err)
	}
}

// assertMetrics checks that ctr task metrics decodes the task's sample:
// the guest's memory in use and its total.
func (c *containerd) assertMetrics(t *testing.T, id string) {
	t.Helper()
	out, errOut, code := c.Ctr(t.Context(), "task", "metrics", "--format", "json", id)
	if code != 0 {
		t.Fatalf("ctr task metrics: exit %d\n%s%s", code, out, errOut)
	}
	var m struct {
		Memory struct {
			Usage      uint64 `json:"usage"`
			UsageLimit uint64 `json:"usage_limit"`
		} `json:"memory"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.Memory.Usage == 0 || m.Memory.UsageLimit < m.Memory.Usage {
		t.Errorf("ctr task metrics: %v\n%s; want the guest's memory use under its total", err, out)
	}
}

// waitRunning waits until containerd lists task id as running; it fails
// when ctr run ends first (exited), with its stderr.
func (c *containerd) waitRunning(t *testing.T, id string, exited <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	c.waitStatus(t, id, "RUNNING", exited, stderr)
}

// waitStatus waits until containerd lists task id in status.
func (c *containerd) waitStatus(t *testing.T, id, status string, exited <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited: // a nil channel (ctr run -d) never ends here
			t.Fatalf("ctr run ended before its task ran: %v\n%s", err, stderr.String())
		default:
		}
		out, _, _ := c.Ctr(t.Context(), "task", "ls")
		for _, line := range strings.Split(out, "\n") {
			if fields := strings.Fields(line); len(fields) == 3 && fields[0] == id && fields[2] == status {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("task %s not %s within 2 minutes", id, status)
}

// assertGone checks that nothing of container id is left: no container
// in containerd, no shim process, no VM (ps -a), and nothing of its VM
// on the host.
func (c *containerd) assertGone(t *testing.T, f *fixture, id, vmID string) {
	t.Helper()
	if out, _, _ := c.Ctr(t.Context(), "containers", "ls", "-q"); strings.Contains(out, id) {
		t.Errorf("containerd still lists container %s:\n%s", id, out)
	}
	c.assertShimVMGone(t, f, id, vmID)
}

// assertShimVMGone checks that neither the shim serving task id, nor
// VM vmID (ps -a), nor anything of it on the host, nor anything for gc
// is left.
func (c *containerd) assertShimVMGone(t *testing.T, f *fixture, id, vmID string) {
	t.Helper()
	var pids []int
	for range 50 { // the shim exits just after it answers Shutdown
		if pids = c.ShimPids(id); len(pids) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(pids) > 0 {
		t.Errorf("shim processes of %s left: %v", id, pids)
	}
	if vmID == "" {
		t.Fatalf("no VM of task %s was seen while it ran", id)
	}
	if out := f.must(t, "ps", "-a", "--format", "{{.ID}} {{.Name}}"); strings.Contains(out, vmID) {
		t.Errorf("banger ps -a still lists VM %s:\n%s", vmID, out)
	}
	f.assertNoTrace(t, vmID)
	f.assertNoOrphans(t)
}

// watchVM polls the daemon for the VM named name until it appears (or
// the test ends) and returns a function answering its id, "" if it never
// appeared: a VM that lives only while ctr runs is still checked after.
func (f *fixture) watchVM(t *testing.T, name string) func() string {
	t.Helper()
	c, err := api.NewClient(f.host)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu sync.Mutex
		id string
	)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if vm, err := api.Do(ctx, c, api.GetVM, api.None{}, name); err == nil {
				mu.Lock()
				id = vm.ID
				mu.Unlock()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() string {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return id
	}
}

// removeImages removes the daemon's images whose name starts with
// prefix.
func (f *fixture) removeImages(t *testing.T, prefix string) {
	for _, name := range strings.Fields(f.must(t, "image", "ls", "--format", "{{.Name}}")) {
		if strings.Contains(name, prefix) {
			f.cli(nil, "image", "rm", name)
		}
	}
}
