package e2e

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// What a runtime shim or a scheduler asks of the daemon (issue 14), on
// real VMs: an idempotent PUT, a delete of an absent VM, a stop with a
// signal, stdio paths (FIFOs, and a file that outlives a daemon kill).

// TestPutTwiceReturnsOneVM: two PUTs of one name with one spec give one
// VM; another spec is a conflict naming the field; the VM starts as any
// other; rm --missing-ok of it twice succeeds, plain rm of a typo fails.
func TestPutTwiceReturnsOneVM(t *testing.T) {
	f := env(t)
	c, err := api.NewClient(f.host)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	spec := api.VMSpec{Image: "busybox", Cmd: []string{"sh", "-c", "echo put-ok"}, Labels: map[string]string{"pod": "put1"}}
	first, err := api.Do(ctx, c, api.PutVM, api.PutVMRequest{Spec: spec}, "putvm")
	if err != nil {
		t.Fatal(err)
	}
	second, err := api.Do(ctx, c, api.PutVM, api.PutVMRequest{Spec: spec}, "putvm")
	if err != nil || second.ID != first.ID {
		t.Fatalf("second put: %s, %v; want the VM %s", second.ID, err, first.ID)
	}
	other := spec
	other.MemoryMiB = 300
	if _, err := api.Do(ctx, c, api.PutVM, api.PutVMRequest{Spec: other}, "putvm"); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "memory_mib") {
		t.Errorf("put with another memory: %v, want a conflict naming memory_mib", err)
	}
	if out := f.must(t, "ps", "-a", "-q", "--filter", "label=pod=put1"); strings.TrimSpace(out) != first.ID {
		t.Errorf("ps --filter label=pod=put1 -q = %q, want the one VM %s", out, first.ID)
	}
	f.must(t, "start", "putvm")
	f.must(t, "wait", "putvm")
	if out, _, _ := f.cli(nil, "logs", "putvm"); out != "put-ok\n" {
		t.Errorf("the put VM's output: %q", out)
	}
	for range 2 {
		f.must(t, "rm", "--missing-ok", "putvm")
	}
	if _, errOut, code := f.cli(nil, "rm", "putvm-typo"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("rm of a typo without --missing-ok: exit %d, %q", code, errOut)
	}
	f.assertNoTrace(t, first.ID)
}

// TestStopWithSignal: stop -s INT sends INT, not the image's TERM: the
// main process's INT trap runs and its status is the trap's.
func TestStopWithSignal(t *testing.T) {
	f := env(t)
	f.must(t, "run", "-d", "--name", "stopsig", "busybox", "sh", "-c", "trap 'echo got-INT; exit 7' INT; echo ready; while :; do sleep 0.2; done")
	waitLogs(t, fixtureCLI(f), "stopsig", "ready\n", 60*time.Second)
	f.must(t, "stop", "-s", "INT", "-t", "20", "stopsig")
	vm := f.inspect(t, "stopsig")
	if vm.ExitCode == nil || *vm.ExitCode != 7 {
		t.Errorf("after stop -s INT: exit %v, want the trap's 7", vm.ExitCode)
	}
	if out, _, _ := f.cli(nil, "logs", "stopsig"); !strings.Contains(out, "got-INT") {
		t.Errorf("the INT trap did not run: %q", out)
	}
	f.must(t, "rm", "stopsig")
}

// fifoLines reads a FIFO the way a shim's caller does: it opens it for
// reading (blocking until the daemon opens its end) and sends what it
// read once the writer closed it.
func fifoLines(t *testing.T, path string) <-chan string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		f, err := os.Open(path)
		if err != nil {
			got <- err.Error()
			return
		}
		defer func() { _ = f.Close() }()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	return got
}

// receive is what a fifoLines reader read, which must have ended (its
// writer closed the FIFO) within a few seconds.
func receive(t *testing.T, what string, ch <-chan string) string {
	t.Helper()
	select {
	case s := <-ch:
		return s
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no end of file after the VM exited", what)
		return ""
	}
}

// TestStdioFIFOs: a VM whose stdout and stderr are FIFOs the test reads,
// and whose stdin is a FIFO the test writes: each stream arrives whole
// on its own FIFO, which ends (EOF) by the time wait returns, and what
// the test wrote reaches the main process, whose output the log keeps
// too.
func TestStdioFIFOs(t *testing.T) {
	f := env(t)
	dir := t.TempDir()
	in, out, errp := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "err")
	stdout, stderr := fifoLines(t, out), fifoLines(t, errp)
	if err := syscall.Mkfifo(in, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `while read l; do echo got:$l; echo seen:$l >&2; done; echo stdin-closed`
	f.must(t, "run", "-d", "--name", "fifos", "--stdin-file", in, "--stdout-file", out, "--stderr-file", errp, "busybox", "sh", "-c", script)
	wrote := make(chan error, 1)
	go func() {
		w, err := os.OpenFile(in, os.O_WRONLY, 0) // until the daemon opens its end
		if err == nil {
			_, err = io.WriteString(w, "alpha\nbeta\n")
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		wrote <- err
	}()
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the daemon never opened the stdin FIFO")
	}
	f.must(t, "wait", "fifos")
	if got := receive(t, "stdout FIFO", stdout); got != "got:alpha\ngot:beta\nstdin-closed\n" {
		t.Errorf("stdout FIFO read %q", got)
	}
	if got := receive(t, "stderr FIFO", stderr); got != "seen:alpha\nseen:beta\n" {
		t.Errorf("stderr FIFO read %q", got)
	}
	if logs, _, _ := f.cli(nil, "logs", "fifos"); logs != "got:alpha\ngot:beta\nstdin-closed\n" {
		t.Errorf("the log lost what went to the FIFO: %q", logs)
	}
	f.must(t, "rm", "fifos")
}

// TestStdioFileSurvivesDaemonKill: the daemon is SIGKILLed while the main
// process prints to a regular file given as its stdout; the next daemon
// adopts the VM, reopens the file and goes on: the file holds what it
// held before, then every line exactly once.
func TestStdioFileSurvivesDaemonKill(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	file := filepath.Join(t.TempDir(), "out.log")
	if err := os.WriteFile(file, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	script := `i=0; while [ $i -lt 16 ]; do echo line$i; i=$((i+1)); sleep 0.5; done`
	pd.run(t, "run", "-d", "--name", "sink", "--stdout-file", file, "busybox", "sh", "-c", script)
	deadline := time.Now().Add(60 * time.Second)
	for b, _ := os.ReadFile(file); !strings.Contains(string(b), "line3\n"); b, _ = os.ReadFile(file) {
		if time.Now().After(deadline) {
			t.Fatalf("the file never got line3: %q", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pd.kill()
	time.Sleep(2 * time.Second) // the guest prints while no daemon is there
	pd.start(t)
	pd.run(t, "wait", "sink")
	want := "before\n"
	for i := range 16 {
		want += "line" + strconv.Itoa(i) + "\n"
	}
	b, _ := os.ReadFile(file)
	if string(b) != want {
		var lines []string
		for sc := bufio.NewScanner(strings.NewReader(string(b))); sc.Scan(); {
			lines = append(lines, sc.Text())
		}
		t.Fatalf("after a daemon SIGKILL the file lost or repeated lines: %q", lines)
	}
}
