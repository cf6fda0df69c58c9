package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
)

// containerd is a containerd daemon of the test's own (--root, --state,
// socket under a temporary directory; the CRI plugin off) whose PATH
// holds containerd-shim-banger-v2 and whose environment points the shim
// at the fixture's banger daemon.
type containerd struct {
	dir, sock, ctrBin string
	cmd               *exec.Cmd
	log               bytes.Buffer
}

// containerdModule is the module whose release the shim is built with
// and whose containerd and ctr scripts/containerd.sh builds.
const containerdModule = "github.com/containerd/containerd/v2"

// containerdBinDir is where scripts/containerd.sh put containerd and ctr
// of the release go.mod pins; it skips when they are not there.
func containerdBinDir(t *testing.T) string {
	t.Helper()
	list := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Version}}", containerdModule)
	list.Dir = testutil.RepoRoot(t)
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", containerdModule, err)
	}
	version := strings.TrimSpace(string(out))
	dir := filepath.Join(testutil.RepoRoot(t), ".tools", "containerd-"+version)
	for _, b := range []string{"containerd", "ctr"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			testutil.Skip(t, fmt.Sprintf("%s %s not built in %s: run scripts/containerd.sh (make deps)", b, version, dir))
		}
	}
	return dir
}

// startContainerd starts the test's containerd (the CRI plugin off) and
// stops it (and removes its directory) when the test ends.
func startContainerd(t *testing.T, f *fixture) *containerd {
	t.Helper()
	return launchContainerd(t, f, func(c *containerd) string {
		return fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), c.sock, filepath.Join(c.dir, "opt"))
	})
}

// launchContainerd starts a containerd of the config config answers for
// its directory and socket, with the shim on its PATH.
func launchContainerd(t *testing.T, f *fixture, config func(c *containerd) string) *containerd {
	t.Helper()
	bin := containerdBinDir(t)
	shim := testutil.BuildBinary(t, "./cmd/containerd-shim-banger-v2")
	dir, err := os.MkdirTemp("", "bgctrd") //nolint:usetesting // t.TempDir is too long a path for the sockets
	if err != nil {
		t.Fatal(err)
	}
	c := &containerd{dir: dir, sock: filepath.Join(dir, "containerd.sock"), ctrBin: filepath.Join(bin, "ctr")}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config(c)), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(filepath.Join(bin, "containerd"), "--config", filepath.Join(dir, "config.toml")) //nolint:noctx // stopped by signal below
	c.cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(shim)+":"+os.Getenv("PATH"), "BANGER_HOST="+f.host)
	c.cmd.Stdout, c.cmd.Stderr = &c.log, &c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		_ = c.cmd.Wait()
		if t.Failed() {
			t.Logf("containerd log:\n%s\nbanger daemon log tail:\n%s", c.log.String(), f.logTail())
		}
		_ = exec.Command("umount", "-R", filepath.Join(dir, "state")).Run() //nolint:noctx // cleanup
		_ = os.RemoveAll(dir)
	})
	for range 200 {
		if _, _, code := c.ctr(t.Context(), "version"); code == 0 {
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("containerd did not answer within 10s:\n%s", c.log.String())
	return nil
}

// ctr runs ctr against the test's containerd.
func (c *containerd) ctr(ctx context.Context, args ...string) (string, string, int) {
	cmd := exec.CommandContext(ctx, c.ctrBin, append([]string{"--address", c.sock}, args...)...) //nolint:gosec // the test's ctr
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // Run returns it unwrapped
			code = ee.ExitCode()
		}
	}
	return out.String(), errb.String(), code
}

// pullBusybox pushes the busybox root file system as an image to an
// in-process registry and pulls it into containerd; it returns the
// image's reference.
func (c *containerd) pullBusybox(t *testing.T) string {
	t.Helper()
	img, err := rt.NewImage([]v1.Layer{busyboxLayer(t)})
	if err != nil {
		t.Fatal(err)
	}
	reg := rt.Start(t)
	ref, _ := reg.Push(t, "ctr/busybox:1", img)
	if out, errOut, code := c.ctr(t.Context(), "images", "pull", "--plain-http", ref); code != 0 {
		t.Fatalf("ctr images pull %s: exit %d\n%s%s", ref, code, out, errOut)
	}
	return ref
}

// shimSocket is the path of the socket of task id's shim, as containerd
// recorded it in the bundle.
func (c *containerd) shimSocket(t *testing.T, id string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.dir, "state", "io.containerd.runtime.v2.task", "default", id, "bootstrap.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(data, &res); err != nil || !strings.HasPrefix(res.Address, "unix://") {
		t.Fatalf("bootstrap.json %s: %v; want a unix:// address", data, err)
	}
	return strings.TrimPrefix(res.Address, "unix://")
}

// busyboxLayer is the busybox root file system as one gzipped layer.
func busyboxLayer(t *testing.T) v1.Layer {
	t.Helper()
	tarball, err := os.ReadFile(busyboxTar(t))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := rt.LayerFromTar(tarball, rt.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	return layer
}

// shimPids are the pids of containerd-shim-banger-v2 processes serving
// container id for this containerd.
func (c *containerd) shimPids(id string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if strings.HasSuffix(args[0], "containerd-shim-banger-v2") && strings.Contains(string(cmdline), "\x00"+id+"\x00") && strings.Contains(string(cmdline), c.sock) {
			var pid int
			_, _ = fmt.Sscan(e.Name(), &pid)
			pids = append(pids, pid)
		}
	}
	return pids
}
