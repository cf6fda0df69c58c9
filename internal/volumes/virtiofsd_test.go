package volumes

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/vmm"
)

func TestVirtiofsdArgs(t *testing.T) {
	got := virtiofsdArgs("/usr/lib/qemu/virtiofsd", Share{VMID: "vm1", Dir: "/srv/a", Socket: `/run/a,b\c/fs0.sock`, ReadOnly: true})
	want := []string{
		"/usr/lib/qemu/virtiofsd", "--fd=3",
		"-o", `source=/run/a\,b\\c/fs0.root`, // the directory's mount in virtiofsd's namespace
		"-o", "sandbox=namespace",
		"-o", "cache=auto",
		"-o", "announce_submounts",
		"-o", "log_level=warn",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("argv\n got %q\nwant %q", got, want)
	}
}

// virtiofsd serves only the shared directory: once the VMM connects, it
// runs sandboxed with that directory as its root — read-only for a :ro
// share, through a mount only it sees — and StopShare leaves no process,
// socket or log behind.
func TestStartShareConfinesVirtiofsd(t *testing.T) {
	testutil.RequireRoot(t)
	bin, err := FindVirtiofsd("")
	if err != nil {
		testutil.Skip(t, err.Error())
	}
	for _, ro := range []bool{false, true} {
		t.Run(map[bool]string{false: "rw", true: "ro"}[ro], func(t *testing.T) {
			base := t.TempDir()
			dir := filepath.Join(base, "sh,ared")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			vmID := "fstest" + map[bool]string{false: "rw", true: "ro"}[ro]
			s := Share{VMID: vmID, Dir: dir, Socket: filepath.Join(base, "fs0.sock"), Log: filepath.Join(base, "fs0.log"), ReadOnly: ro}
			id, err := StartShare(bin, s)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = StopSharesOf(vmID) })
			// The kernel fills /proc/PID/environ a moment after the exec
			// that Start waited for (the close-on-exec pipe closes first).
			var env []string
			for deadline := time.Now().Add(5 * time.Second); len(env) == 0 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				env, _ = proc.Environ(id.PID)
			}
			if !slices.Contains(env, vmm.EnvVMID+"="+vmID) || !slices.Contains(env, EnvRole+"="+RoleVirtiofsd) {
				t.Fatalf("virtiofsd carries no markers: %q", env)
			}
			// The VMM connects; virtiofsd then sandboxes itself in a child.
			conn, err := net.Dial("unix", s.Socket)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			var pids []int
			waitFor(t, "the sandboxed child", func() bool {
				pids, _ = proc.FindByEnv(vmm.EnvVMID, vmID)
				return len(pids) == 2
			})
			child := pids[0]
			if child == id.PID {
				child = pids[1]
			}
			// The child exists before it has pivoted into the shared
			// directory; on a loaded host it is seen still holding the
			// host's mounts for a while.
			var mounts []mountLine
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if mounts = mountinfo(t, child); len(mounts) == 1 || time.Now().After(deadline) {
					break
				}
			}
			if len(mounts) != 1 || mounts[0].Point != "/" || mounts[0].Root != dir || mounts[0].ReadOnly != ro {
				t.Fatalf("the sandbox's mounts: %+v; want only %s on /, read-only %v", mounts, dir, ro)
			}
			for _, m := range mountinfo(t, os.Getpid()) {
				if strings.HasPrefix(m.Point, base) {
					t.Fatalf("the host sees a mount at %s: %+v", m.Point, m)
				}
			}
			if err := StopShare(id, s.Socket, s.Log); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "virtiofsd to go", func() bool { p, _ := proc.FindByEnv(vmm.EnvVMID, vmID); return len(p) == 0 })
			for _, p := range []string{s.Socket, s.Log} {
				if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left: %v", p, err)
				}
			}
		})
	}
}

type mountLine struct {
	Root, Point string
	ReadOnly    bool
}

// mountinfo reads the mounts process pid sees: each mount's root within
// its file system, its mount point, and whether it is read-only (the
// paths here have no characters mountinfo escapes).
func mountinfo(t *testing.T, pid int) []mountLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	var out []mountLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		out = append(out, mountLine{Root: f[3], Point: f[4], ReadOnly: slices.Contains(strings.Split(f[5], ","), "ro")})
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
