package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
)

// procDaemon is a `banger daemon` subprocess, so a test can SIGKILL it.
type procDaemon struct {
	cmd  *exec.Cmd
	root string
	cfg  string
	sock string
}

func startProcDaemon(t *testing.T, banger, root, cfgPath string) *procDaemon {
	t.Helper()
	pd := &procDaemon{root: root, cfg: cfgPath, sock: paths.Rooted(root).Socket}
	log, err := os.OpenFile(filepath.Join(root, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	pd.cmd = exec.Command(banger, "daemon", "--root", root, "--config", cfgPath, "--log-level", "debug")
	pd.cmd.Stdout, pd.cmd.Stderr = log, log
	if err := pd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = log.Close()
	if err := waitSocket(pd.sock); err != nil {
		t.Fatal(err)
	}
	return pd
}

func (pd *procDaemon) run(t *testing.T, banger string, args ...string) string {
	t.Helper()
	cmd := exec.Command(banger, append([]string{"--host", "unix://" + pd.sock}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		logb, _ := os.ReadFile(filepath.Join(pd.root, "daemon.log"))
		t.Fatalf("banger %s: %v\n%s%s\ndaemon log:\n%s", strings.Join(args, " "), err, out, stderr, lastBytes(logb, 3000))
	}
	return string(out)
}

// cli runs the CLI against the daemon: stdout, stderr, exit code.
func (pd *procDaemon) cli(banger string, args ...string) (string, string, int) {
	cmd := exec.Command(banger, append([]string{"--host", "unix://" + pd.sock}, args...)...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return out.String(), errb.String(), code
}

// importBusybox gives the daemon the Debian kernel (its default) and the
// busybox image.
func (pd *procDaemon) importBusybox(t *testing.T, f *fixture) {
	t.Helper()
	pd.run(t, f.banger, "kernel", "import", testutil.DebianKernelDebs(t), "--name", "debian", "--default")
	pd.run(t, f.banger, "image", "import", busyboxTar(t), "--name", "busybox")
}

// kill SIGKILLs the daemon and reaps it.
func (pd *procDaemon) kill() {
	_ = pd.cmd.Process.Signal(syscall.SIGKILL)
	_ = pd.cmd.Wait()
}

// stopDaemon stops the daemon as a service manager would (SIGTERM).
func (pd *procDaemon) stopDaemon() {
	_ = pd.cmd.Process.Signal(syscall.SIGTERM)
	_ = pd.cmd.Wait()
}

// procDaemonRoot makes a short state root and config for a daemon
// subprocess, and removes whatever it held when the test ends: a last
// in-process daemon reconciles (kills VMMs, releases taps), removes every
// VM and the test network.
func procDaemonRoot(t *testing.T, f *fixture) (root, cfgPath string) {
	t.Helper()
	root, err := os.MkdirTemp("", "bgpd") //nolint:usetesting // short path for sockets
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(f.agent)
	cfgPath = filepath.Join(root, "config.toml")
	writeConfig(t, cfgPath, cfg)
	t.Cleanup(func() {
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
	return root, cfgPath
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
	root, cfgPath := procDaemonRoot(t, f)

	pd := startProcDaemon(t, f.banger, root, cfgPath)
	pd.importBusybox(t, f)
	id := strings.TrimSpace(pd.run(t, f.banger, "run", "-d", "--name", "survivor", "busybox"))
	before := pidsOf(id)
	if len(before) != 1 {
		t.Fatalf("VMM processes of %s: %v", id, before)
	}
	pd.run(t, f.banger, "pause", "survivor")

	if err := pd.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = pd.cmd.Wait()
	if after := pidsOf(id); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("the VM must outlive its daemon: VMM %v before, %v after", before, after)
	}

	pd = startProcDaemon(t, f.banger, root, cfgPath)
	defer func() { _ = pd.cmd.Process.Signal(syscall.SIGTERM); _ = pd.cmd.Wait() }()
	if out := pd.run(t, f.banger, "ps"); !strings.Contains(out, "survivor") || !strings.Contains(out, "paused") {
		t.Fatalf("after restart ps says:\n%s", out)
	}
	pd.run(t, f.banger, "unpause", "survivor")
	if out := pd.run(t, f.banger, "ps"); !strings.Contains(out, "running") {
		t.Fatalf("after unpause ps says:\n%s", out)
	}
	if out := pd.run(t, f.banger, "exec", "survivor", "--", "echo", "adopted"); out != "adopted\n" {
		t.Fatalf("exec after adoption: %q", out)
	}
	if after := pidsOf(id); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("adoption must keep the same VMM: %v before, %v after", before, after)
	}
	pd.run(t, f.banger, "rm", "-f", "survivor")
	deadline := time.Now().Add(5 * time.Second)
	for len(pidsOf(id)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := pidsOf(id); len(left) > 0 {
		t.Errorf("rm left VMM processes %v", left)
	}
}

func writeConfig(t *testing.T, path string, cfg config.Config) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		t.Fatal(fmt.Errorf("write config: %w", err))
	}
}
