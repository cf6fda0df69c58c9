// Package containerdrun runs a containerd of a caller's own (--root,
// --state and socket under a temporary directory; the CRI plugin off, or
// on with CRIConfig) whose PATH holds containerd-shim-banger-v2 and whose
// environment points the shim at one banger daemon, and runs ctr and
// crictl against it. The e2e tests, `make bench-containerd` and `make
// bench-cri` share it.
package containerdrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/bangerdev/banger/internal/procfs"
)

// Module is the module whose release the shim is built with and whose
// containerd and ctr scripts/containerd.sh builds.
const Module = "github.com/containerd/containerd/v2"

// BinDir is where scripts/containerd.sh put containerd and ctr of the
// release go.mod (under repoRoot) pins: .tools/containerd-VERSION. It is
// an error when either binary is not there.
func BinDir(ctx context.Context, repoRoot string) (string, error) {
	list := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", Module)
	list.Dir = repoRoot
	out, err := list.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", Module, err)
	}
	version := strings.TrimSpace(string(out))
	dir := filepath.Join(repoRoot, ".tools", "containerd-"+version)
	for _, b := range []string{"containerd", "ctr"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return "", fmt.Errorf("%s %s not built in %s: run scripts/containerd.sh (make deps)", b, version, dir)
		}
	}
	return dir, nil
}

// Containerd is a running containerd and the ctr that talks to it.
type Containerd struct {
	Dir, Sock, CtrBin string
	cmd               *exec.Cmd
}

// Start starts containerd from binDir with shimDir (holding
// containerd-shim-banger-v2) first on its PATH and BANGER_HOST=bangerHost,
// its output to log, and waits until it answers (10s). It runs in a
// process group of its own: a terminal's Ctrl-C does not reach it, so the
// caller can still remove its containers through it before Stop.
func Start(ctx context.Context, binDir, shimDir, bangerHost string, log io.Writer) (*Containerd, error) {
	return StartWith(ctx, binDir, shimDir, bangerHost, log, TaskConfig)
}

// TaskConfig is the configuration Start uses: root, state, socket and
// opt under dir, the CRI plugin off (the task API only, as ctr uses it).
func TaskConfig(dir, sock string) string {
	return fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images"]
[grpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, filepath.Join(dir, "opt"))
}

// StartWith is Start with the configuration config answers for the
// containerd's directory and socket.
func StartWith(ctx context.Context, binDir, shimDir, bangerHost string, log io.Writer, config func(dir, sock string) string) (*Containerd, error) {
	dir, err := os.MkdirTemp("", "bgctrd") // short: the sockets live under it
	if err != nil {
		return nil, err
	}
	c := &Containerd{Dir: dir, Sock: filepath.Join(dir, "containerd.sock"), CtrBin: filepath.Join(binDir, "ctr")}
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config(dir, c.Sock)), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	c.cmd = exec.Command(filepath.Join(binDir, "containerd"), "--config", filepath.Join(dir, "config.toml")) //nolint:noctx // Stop ends it by signal
	c.cmd.Env = append(os.Environ(), "PATH="+shimDir+":"+os.Getenv("PATH"), "BANGER_HOST="+bangerHost)
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	for range 200 {
		if _, _, code := c.Ctr(ctx, "version"); code == 0 {
			return c, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.Stop()
	return nil, errors.New("containerd did not answer within 10s")
}

// Ctr runs ctr against this containerd: its stdout, stderr and exit code
// (-1 when it did not run or was killed).
func (c *Containerd) Ctr(ctx context.Context, args ...string) (string, string, int) {
	return run(ctx, c.CtrBin, append([]string{"--address", c.Sock}, args...))
}

// run runs bin with args: its stdout, stderr and exit code (-1 when it
// did not run or was killed).
func run(ctx context.Context, bin string, args []string) (string, string, int) {
	cmd := exec.CommandContext(ctx, bin, args...) //nolint:gosec // our own ctr and crictl
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

// Stop ends containerd (SIGTERM), unmounts what is left under its state
// and removes its directory. Tasks it ran are the caller's to remove
// first (their shims outlive containerd).
func (c *Containerd) Stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	_ = c.cmd.Wait()
	// A shim outlives its containerd by design; one whose task a failed
	// test or bench left running would stay forever.
	c.killShims()
	unmountUnder(c.Dir)
	_ = os.RemoveAll(c.Dir)
}

// unmountUnder unmounts (lazily, deepest first) everything mounted under
// dir: the tasks' rootfs mounts, and a pod's /dev/shm that CRI left when
// the pod was not removed.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	mounts, _ := procfs.ParseMountinfo(f)
	_ = f.Close()
	for _, m := range mountsUnder(mounts, dir) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// mountsUnder answers the mount points of mounts below dir, deepest
// first.
func mountsUnder(mounts []procfs.MountInfo, dir string) []string {
	var out []string
	for _, m := range mounts {
		if strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	slices.SortStableFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// killShims kills the processes of the shims this containerd started.
func (c *Containerd) killShims() {
	for pid := range c.procsNaming() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ShimPids are the pids of containerd-shim-banger-v2 processes this
// containerd started that serve container id (a pod's shim serves its
// containers too, under the pod's id).
func (c *Containerd) ShimPids(id string) []int {
	var pids []int
	for pid, args := range c.procsNaming() {
		if strings.HasSuffix(args[0], "containerd-shim-banger-v2") && slices.Contains(args, id) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// procsNaming answers the arguments of each process (by pid) that names
// this containerd's socket among them: its shims (-address SOCK), and a
// ctr still running against it.
func (c *Containerd) procsNaming() map[int][]string {
	procs := map[int][]string{}
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if !slices.Contains(args, c.Sock) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			procs[pid] = args
		}
	}
	return procs
}
