package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
)

// procDaemon is a `banger daemon` subprocess on a short state root of its
// own, so a test can SIGKILL it and start another on the same root.
type procDaemon struct {
	banger, root, cfg, sock string
	cmd                     *exec.Cmd // the current daemon; nil once it ended
}

// newProcDaemon makes the root and config, starts a daemon and gives it
// the Debian kernel (its default) and the busybox image. When the test
// ends, whatever happened, the running daemon stops and a last in-process
// daemon reconciles (kills VMMs, releases taps), removes every VM and the
// test network, and the root goes.
func newProcDaemon(t *testing.T, f *fixture) *procDaemon {
	t.Helper()
	root, err := os.MkdirTemp("", "bgpd") //nolint:usetesting // short path for sockets
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(f.agent)
	pd := &procDaemon{banger: f.banger, root: root, cfg: filepath.Join(root, "config.toml"), sock: paths.Rooted(root).Socket}
	if err := testutil.WriteConfig(pd.cfg, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pd.stop()
		d, err := daemon.New(daemon.Options{Layout: paths.Rooted(root), Config: cfg})
		if err != nil {
			t.Errorf("cleanup daemon: %v", err)
			return
		}
		ctx := context.Background()
		_ = d.RemoveAllVMs(ctx)
		if err := d.TeardownNetwork(ctx); err != nil {
			t.Errorf("teardown network: %v", err)
		}
		_ = d.Close()
		_ = os.RemoveAll(root)
	})
	pd.start(t)
	pd.run(t, "kernel", "import", testutil.DebianKernelDebs(t), "--name", "debian", "--default")
	pd.run(t, "image", "import", busyboxTar(t), "--name", "busybox")
	return pd
}

// start runs a daemon on the root (after kill or stop: the next one) and
// waits until it answers.
func (pd *procDaemon) start(t *testing.T) {
	t.Helper()
	pd.launch(t)
	if err := waitSocket(pd.sock); err != nil {
		t.Fatal(err)
	}
}

// launch starts `banger daemon` on the root, after the launcher argv
// when given (one that execs the daemon in its place), its output
// appended to daemon.log.
func (pd *procDaemon) launch(t *testing.T, launcher ...string) {
	t.Helper()
	if pd.cmd != nil {
		t.Fatal("procDaemon: a daemon is already running")
	}
	log, err := os.OpenFile(filepath.Join(pd.root, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	argv := slices.Concat(launcher, []string{pd.banger, "daemon", "--root", pd.root, "--config", pd.cfg, "--log-level", "debug"})
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:noctx // the daemon outlives any one call
	cmd.Stdout, cmd.Stderr = log, log
	err = cmd.Start()
	_ = log.Close()
	if err != nil {
		t.Fatal(err)
	}
	pd.cmd = cmd
}

// run runs the CLI against the daemon and fails the test unless it exits
// 0; it returns stdout.
func (pd *procDaemon) run(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := pd.cli(args...)
	if code != 0 {
		logb, _ := os.ReadFile(filepath.Join(pd.root, "daemon.log"))
		t.Fatalf("banger %s: exit %d\n%s%s\ndaemon log:\n%s", strings.Join(args, " "), code, out, errOut, lastBytes(logb, 3000))
	}
	return out
}

// cli runs the CLI against the daemon: stdout, stderr, exit code.
func (pd *procDaemon) cli(args ...string) (string, string, int) {
	cmd := exec.Command(pd.banger, append([]string{"--host", "unix://" + pd.sock}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

// kill SIGKILLs the daemon and reaps it; VMs live on.
func (pd *procDaemon) kill() { pd.signal(syscall.SIGKILL) }

// stop stops the daemon as a service manager would (SIGTERM).
func (pd *procDaemon) stop() { pd.signal(syscall.SIGTERM) }

func (pd *procDaemon) signal(sig syscall.Signal) {
	if pd.cmd == nil {
		return
	}
	_ = pd.cmd.Process.Signal(sig)
	_ = pd.cmd.Wait()
	pd.cmd = nil
}

func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// TestDaemonKilledWhileVMRuns: SIGKILL the daemon while a VM runs,
// paused; a new daemon adopts the VM (same pid and start time) as paused,
// and after unpause exec works.
func TestDaemonKilledWhileVMRuns(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	id := strings.TrimSpace(pd.run(t, "run", "-d", "--name", "survivor", "busybox"))
	before := pidsOf(id)
	if len(before) != 1 {
		t.Fatalf("VMM processes of %s: %v", id, before)
	}
	pd.run(t, "pause", "survivor")

	pd.kill()
	if after := pidsOf(id); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("the VM must outlive its daemon: VMM %v before, %v after", before, after)
	}

	pd.start(t)
	if out := pd.run(t, "ps"); !strings.Contains(out, "survivor") || !strings.Contains(out, "paused") {
		t.Fatalf("after restart ps says:\n%s", out)
	}
	pd.run(t, "unpause", "survivor")
	if out := pd.run(t, "ps"); !strings.Contains(out, "running") {
		t.Fatalf("after unpause ps says:\n%s", out)
	}
	if out := pd.run(t, "exec", "survivor", "--", "echo", "adopted"); out != "adopted\n" {
		t.Fatalf("exec after adoption: %q", out)
	}
	if after := pidsOf(id); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("adoption must keep the same VMM: %v before, %v after", before, after)
	}
	pd.run(t, "rm", "-f", "survivor")
	deadline := time.Now().Add(5 * time.Second)
	for len(pidsOf(id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := pidsOf(id); len(left) > 0 {
		t.Errorf("rm left VMM processes %v", left)
	}
}
