package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/cli"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/api"
)

func pidsOf(id string) []int {
	pids, _ := proc.FindByEnv(vmm.EnvVMID, id)
	return pids
}

// fixture is one daemon shared by the package's tests, with the Debian
// cloud kernel and a busybox image imported.
type fixture struct {
	root   string
	layout paths.Layout
	cfg    config.Config
	d      *daemon.Daemon
	host   string
	stop   context.CancelFunc
	served chan error
	logs   *lockedWriter
	agent  string
	banger string
}

var (
	shared     *fixture
	sharedOnce sync.Once
	sharedErr  error
)

// env returns the shared fixture, building it on first use. It skips when
// the tiers' prerequisites are missing.
func env(t *testing.T) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireQEMU(t)
	deb := testutil.DebianKernelDebs(t)
	busybox := testimages.BusyboxRootfsTar(t)
	agent := testutil.BuildBinary(t, "./cmd/banger-agent")
	banger := testutil.BuildBinary(t, "./cmd/banger")
	sharedOnce.Do(func() {
		shared, sharedErr = newFixture(deb, busybox, agent, banger)
	})
	if sharedErr != nil {
		t.Fatalf("e2e fixture: %v", sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		if err := shared.close(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e teardown:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testConfig returns a config whose bridge, subnet and nft table are this
// run's own, so parallel test runs and a real banger never collide.
func testConfig(agent string) config.Config {
	return testutil.Config(agent, "bge", "bangere2e_", 215)
}

func newFixture(deb, busybox, agent, banger string) (*fixture, error) {
	// Not t.TempDir: a short path keeps socket paths under 107 bytes.
	root, err := os.MkdirTemp("", "bge2e")
	if err != nil {
		return nil, err
	}
	f := &fixture{root: root, layout: paths.Rooted(root), cfg: testConfig(agent), logs: &lockedWriter{w: &bytes.Buffer{}}, agent: agent, banger: banger}
	// `banger setup` makes the user QEMU runs as (and the directories), as
	// an install does: VMs start confined, or not at all.
	setupConf := filepath.Join(root, "setup.toml")
	if err := os.WriteFile(setupConf, fmt.Appendf(nil, "[daemon]\nsocket_group = %q\n[qemu]\nuser = %q\n", f.cfg.Daemon.SocketGroup, f.cfg.QEMU.User), 0o600); err != nil {
		return nil, err
	}
	if out, errOut, code := f.cli(nil, "setup", "--root", root, "--config", setupConf); code != 0 {
		return nil, fmt.Errorf("banger setup: exit %d\n%s%s", code, out, errOut)
	}
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.d, err = daemon.New(daemon.Options{Layout: f.layout, Config: f.cfg, Log: log})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop, f.served, f.host = cancel, make(chan error, 1), "unix://"+f.layout.Socket
	go func() { f.served <- f.d.Serve(ctx) }()
	if err := waitSocket(f.layout.Socket); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"kernel", "import", deb, "--name", "debian", "--default"},
		{"image", "import", busybox, "--name", "busybox"},
	} {
		if out, errOut, code := f.cli(nil, args...); code != 0 {
			return nil, fmt.Errorf("banger %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	return f, nil
}

// waitSocket waits until a daemon answers on sock (a stale socket file
// left by a killed daemon is not enough).
func waitSocket(sock string) error {
	c, err := api.NewClient("unix://" + sock)
	if err != nil {
		return err
	}
	for range 400 {
		if _, err := api.Do(context.Background(), c, api.GetInfo, api.None{}); err == nil {
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("no daemon answered on %s within 10s", sock)
}

// close removes every VM, the test network and the state.
func (f *fixture) close() error {
	if c, err := api.NewClient(f.host); err == nil {
		vms, _ := api.Do(context.Background(), c, api.ListVMs, api.ListVMsQuery{All: true})
		for _, vm := range vms {
			_, _ = api.Do(context.Background(), c, api.RemoveVM, api.RemoveVMQuery{Force: true}, vm.ID)
		}
	}
	err := f.d.TeardownNetwork(context.Background())
	f.stop()
	if serr := <-f.served; serr != nil && err == nil {
		err = serr
	}
	_ = f.d.Close()
	_ = os.RemoveAll(f.root)
	return err
}

// cli runs the banger CLI in-process against the fixture's daemon.
func (f *fixture) cli(stdin io.Reader, args ...string) (string, string, int) {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	app := &cli.App{Stdin: stdin, Stdout: &out, Stderr: &errb}
	code := app.Run(append([]string{"--host", f.host}, args...))
	return out.String(), errb.String(), code
}

// must runs the CLI and fails the test unless it exits 0; it returns stdout.
func (f *fixture) must(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := f.cli(nil, args...)
	if code != 0 {
		t.Fatalf("banger %s: exit %d\nstdout: %s\nstderr: %s\ndaemon log tail:\n%s", strings.Join(args, " "), code, out, errOut, f.logTail())
	}
	return out
}

func (f *fixture) logTail() string {
	s := f.logs.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// inspect returns a VM's record.
func (f *fixture) inspect(t *testing.T, ref string) api.VM {
	t.Helper()
	var vms []api.VM
	if err := json.Unmarshal([]byte(f.must(t, "inspect", "--type", "vm", ref)), &vms); err != nil || len(vms) != 1 {
		t.Fatalf("inspect %s: %v, %d VMs; want a JSON array of one", ref, err, len(vms))
	}
	return vms[0]
}

// assertNoTrace checks that nothing of VM id is left on the host: no
// record, no process, no directory, no socket, no tap, no nft rule, no
// lease — each asserted on its own, through the daemon's inventory and
// directly on the host.
func (f *fixture) assertNoTrace(t *testing.T, id string) {
	t.Helper()
	if out, _, code := f.cli(nil, "inspect", id); code == 0 {
		t.Errorf("vm %s still has a record:\n%s", id, out)
	}
	c, _ := api.NewClient(f.host)
	objs, err := api.Do(context.Background(), c, api.Inventory, api.None{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Owner == id {
			t.Errorf("inventory still lists %s %s of vm %s", o.Kind, o.Name, id)
		}
	}
	if pids := pidsOf(id); len(pids) > 0 {
		t.Errorf("processes of vm %s left: %v", id, pids)
	}
	for _, dir := range []string{f.layout.VM(id), f.layout.VMRuntime(id)} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("directory %s left", dir)
		}
	}
	if out, err := exec.Command("ip", "link", "show", "bg-"+id[:12]).CombinedOutput(); err == nil {
		t.Errorf("tap bg-%s left:\n%s", id[:12], out)
	}
	if out, err := exec.Command("nft", "list", "table", "inet", f.cfg.Network.NftTable).CombinedOutput(); err == nil && strings.Contains(string(out), "banger:"+id) {
		t.Errorf("nft rules of vm %s left:\n%s", id, out)
	}
	if sockets, _ := filepath.Glob(filepath.Join(f.layout.VMRuntime(id), "*.sock")); len(sockets) > 0 {
		t.Errorf("sockets left: %v", sockets)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// assertNoOrphans checks that the daemon's inventory holds nothing that a
// VM record does not explain (gc --dry-run finds nothing).
func (f *fixture) assertNoOrphans(t *testing.T) {
	t.Helper()
	var rep api.GCReport
	if err := json.Unmarshal([]byte(f.must(t, "gc", "--dry-run", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	for _, o := range rep.Objects {
		t.Errorf("orphaned %s %s (owner %s)", o.Kind, o.Name, o.Owner)
	}
}

func busyboxTar(t *testing.T) string { return testimages.BusyboxRootfsTar(t) }
