package crash

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/crashpoint"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
	"github.com/bangerdev/banger/pkg/api"
)

// lab is a `banger daemon` process on a --root of its own, with the
// Debian cloud kernel ("debian") and the busybox image ("busybox")
// imported once, which a test kills, restarts and inspects.
type lab struct {
	root, cfgPath, logPath string
	layout                 paths.Layout
	cfg                    config.Config
	banger, deb, busybox   string
	baseImage              string // the busybox image's id

	cmd    *exec.Cmd
	exited chan struct{}
	status syscall.WaitStatus
	logOff int64 // where the current daemon's output starts in logPath
	// mounted: root is a tmpfs of the lab's.
	mounted bool
	// pod is the namespace pair of the netns drivers (podNetns), while a
	// point uses it.
	pod *testutil.NetnsPair
}

// podNetns is a namespace pair for VMs attached to a network namespace,
// made once per point and removed when it ends; its "netns:" mode.
func (l *lab) podNetns(t *testing.T) string {
	t.Helper()
	if l.pod == nil {
		p := testutil.NewNetnsPair(t, "crash")
		l.pod = &p
		t.Cleanup(func() { l.pod = nil })
	}
	return "netns:" + l.pod.PathA()
}

// newLab starts a lab; tweak adjusts its config first. Its cleanup
// removes every VM, the test network and the root, whatever happened.
func newLab(t *testing.T, tweak ...func(*config.Config)) *lab {
	t.Helper()
	return newLabOn(t, "", tweak...)
}

// newLabOn is newLab with the root on a tmpfs of tmpfsSize bytes ("" for
// none), to fill up.
func newLabOn(t *testing.T, tmpfsSize string, tweak ...func(*config.Config)) *lab {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireQEMU(t)
	l := &lab{
		deb:     testutil.DebianKernelDebs(t),
		busybox: testimages.BusyboxRootfsTar(t),
		banger:  testutil.BuildBinary(t, "./cmd/banger"),
	}
	agent := testutil.BuildBinary(t, "./cmd/banger-agent")
	// Not t.TempDir: a short path keeps socket paths under 107 bytes.
	root, err := os.MkdirTemp("", "bgcr") //nolint:usetesting // short path for sockets
	if err != nil {
		t.Fatal(err)
	}
	if tmpfsSize != "" {
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+tmpfsSize+",mode=0711", "tmpfs", root).CombinedOutput(); err != nil {
			_ = os.Remove(root)
			t.Fatalf("mount a tmpfs on %s: %v %s", root, err, out)
		}
		l.mounted = true
	}
	l.root, l.layout = root, paths.Rooted(root)
	l.cfgPath, l.logPath = filepath.Join(root, "config.toml"), filepath.Join(root, "daemon.log")
	l.cfg = labConfig(agent)
	for _, f := range tweak {
		f(&l.cfg)
	}
	t.Cleanup(func() { l.teardown(t) })
	if err := testutil.WriteConfig(l.cfgPath, l.cfg); err != nil {
		t.Fatal(err)
	}
	// As an install does: the user QEMU runs as, so VMs start confined.
	if out, err := exec.Command(l.banger, "setup", "--root", root, "--config", l.cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("banger setup: %v\n%s", err, out)
	}
	if !l.start(t, "") {
		t.Fatalf("the daemon did not come up:\n%s", l.logTail())
	}
	l.must(t, "kernel", "import", l.deb, "--name", "debian", "--default")
	l.must(t, "image", "import", l.busybox, "--name", "busybox")
	l.baseImage = mustInspect[api.Image](t, l, "image", "inspect", "busybox").ID
	return l
}

// labConfig is a config whose bridge, subnet and nft table are the lab's
// own, so labs, other tests and a real banger never collide; guests are
// as small as the Debian kernel boots comfortably.
func labConfig(agent string) config.Config {
	cfg := testutil.Config(agent, "bgc", "bangercrash_", 220)
	cfg.VM.CPUs = 1
	cfg.VM.Memory = 256 << 20
	return cfg
}

// start runs a daemon, armed at point unless point is "", and waits until
// it serves or dies; it reports whether it serves.
func (l *lab) start(t *testing.T, point string) bool {
	t.Helper()
	if l.running() {
		t.Fatal("lab: a daemon is already running")
	}
	log, err := os.OpenFile(l.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }()
	if fi, err := log.Stat(); err == nil {
		l.logOff = fi.Size()
	}
	fmt.Fprintf(log, "=== lab: daemon start, crashpoint %q\n", point)
	cmd := exec.Command(l.banger, "daemon", "--root", l.root, "--config", l.cfgPath, "--log-level", "debug") //nolint:noctx // the daemon outlives any one call
	cmd.Env = cleanEnv()
	if point != "" {
		cmd.Env = append(cmd.Env, crashpoint.Env+"="+point)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l.cmd, l.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) {
		_ = cmd.Wait()
		l.status, _ = cmd.ProcessState.Sys().(syscall.WaitStatus)
		close(exited)
	}(l.exited)
	c, err := api.NewClient("unix://" + l.layout.Socket)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if !l.running() {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := api.Do(ctx, c, api.GetInfo, api.None{})
		cancel()
		if err == nil && info.PID == cmd.Process.Pid {
			return true
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("the daemon did not serve within 90s:\n%s", l.logTail())
	return false
}

// cleanEnv is the test's environment without a crash point.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, crashpoint.Env+"=") })
}

// running reports whether the lab's daemon process is alive.
func (l *lab) running() bool {
	if l.exited == nil {
		return false
	}
	select {
	case <-l.exited:
		return false
	default:
		return true
	}
}

// waitExit waits up to timeout for the daemon to exit.
func (l *lab) waitExit(timeout time.Duration) bool {
	if l.exited == nil {
		return true
	}
	select {
	case <-l.exited:
		return true
	case <-time.After(timeout):
		return false
	}
}

// diedAt reports whether the daemon died by SIGKILL at point, as the
// crash point logs it.
func (l *lab) diedAt(point string) bool {
	return !l.running() && l.status.Signaled() && l.status.Signal() == syscall.SIGKILL &&
		strings.Contains(l.log(), "crashpoint "+point+": SIGKILL")
}

// kill SIGKILLs the daemon.
func (l *lab) kill(t *testing.T) {
	t.Helper()
	if !l.running() {
		return
	}
	_ = l.cmd.Process.Signal(syscall.SIGKILL)
	if !l.waitExit(10 * time.Second) {
		t.Fatal("the daemon survived SIGKILL for 10s")
	}
}

// stop ends the daemon gracefully (SIGTERM): VMs live on.
func (l *lab) stop(t *testing.T) {
	t.Helper()
	if !l.running() {
		return
	}
	_ = l.cmd.Process.Signal(syscall.SIGTERM)
	if !l.waitExit(30 * time.Second) {
		t.Errorf("the daemon did not stop within 30s of SIGTERM; killing it")
		l.kill(t)
	}
}

// restart stops the daemon gracefully and starts it again, unarmed.
func (l *lab) restart(t *testing.T) {
	t.Helper()
	l.stop(t)
	if !l.start(t, "") {
		t.Fatalf("the daemon died at start:\n%s", l.logTail())
	}
}

// log is the current daemon's output.
func (l *lab) log() string {
	b, _ := os.ReadFile(l.logPath)
	if int64(len(b)) < l.logOff {
		return string(b)
	}
	return string(b[l.logOff:])
}

func (l *lab) logTail() string {
	s := l.log()
	if len(s) > 6000 {
		s = s[len(s)-6000:]
	}
	return s
}

// teardown leaves nothing: a last in-process daemon reconciles, removes
// every VM and the test network; then the root goes.
func (l *lab) teardown(t *testing.T) {
	l.kill(t)
	d, err := daemon.New(daemon.Options{Layout: l.layout, Config: l.cfg})
	if err != nil {
		t.Errorf("lab teardown: %v", err)
		return
	}
	ctx := context.Background()
	if err := d.RemoveAllVMs(ctx); err != nil {
		t.Errorf("lab teardown: remove VMs: %v", err)
	}
	if err := d.TeardownNetwork(ctx); err != nil {
		t.Errorf("lab teardown: network: %v", err)
	}
	_ = d.Close()
	if t.Failed() {
		if b, err := os.ReadFile(l.logPath); err == nil {
			_ = os.WriteFile(filepath.Join(os.TempDir(), "banger-crash-"+filepath.Base(l.root)+".log"), b, 0o600)
			t.Logf("daemon log kept in %s", filepath.Join(os.TempDir(), "banger-crash-"+filepath.Base(l.root)+".log"))
		}
	}
	_ = os.RemoveAll(l.root)
	if l.mounted {
		if out, err := exec.Command("umount", l.root).CombinedOutput(); err != nil {
			t.Errorf("lab teardown: umount %s: %v %s", l.root, err, out)
		}
		_ = os.Remove(l.root)
	}
}
