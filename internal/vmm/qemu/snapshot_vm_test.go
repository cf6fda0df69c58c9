package qemu_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/guest"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// shellScript is a guest that stands in for the agent's exec: it runs each
// line the host sends on the agent port with sh and answers with the
// output and "@@END <status>". It holds the port open and goes on reading
// after the host hangs up, as the agent does.
const shellScript = guest.AgentPortScript + `[ -n "$port" ] || exit 1
exec 3<>$port
while :; do
	while IFS= read -r line <&3; do
		eval "$line" >&3 2>&1 </dev/null
		echo "@@END $?" >&3
	done
	sleep 0.02
done
`

// shell is a host connection to shellScript.
type shell struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialShell(ctx context.Context, t *testing.T, m vmm.Machine) *shell {
	t.Helper()
	conn, err := m.DialAgent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &shell{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// run runs line in the guest and returns its output; a non-zero status
// fails the test.
func (s *shell) run(line string) string {
	s.t.Helper()
	out, code, err := s.try(line, time.Minute)
	if err != nil || code != 0 {
		s.t.Fatalf("guest %q: status %d, %v\n%s", line, code, err, out)
	}
	return out
}

func (s *shell) try(line string, timeout time.Duration) (string, int, error) {
	_ = s.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(s.conn, line+"\n"); err != nil {
		return "", -1, err
	}
	var out strings.Builder
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			return out.String(), -1, err
		}
		if rest, ok := strings.CutPrefix(l, "@@END "); ok {
			code, _ := strconv.Atoi(strings.TrimSpace(rest))
			return out.String(), code, nil
		}
		out.WriteString(l)
	}
}

// snapFixture is what the snapshot tests share: the kernel, the shell
// initramfs and a short scratch dir.
type snapFixture struct {
	b      *qemu.Backend
	kernel vmm.Kernel
	dir    string
}

func newSnapFixture(t *testing.T) snapFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("boots VMs")
	}
	testutil.RequireQEMU(t)
	k := guest.DebianKernel(t)
	initrd := guest.Build(t, k, guest.Initramfs{Modules: guest.BaseModules, Script: shellScript})
	dir, err := os.MkdirTemp("", "bgs-") //nolint:usetesting // t.TempDir can exceed sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return snapFixture{
		b:      qemu.New(qemu.WithAccel(testAccel())),
		kernel: vmm.Kernel{BzImage: k.BzImage, Vmlinux: k.Vmlinux, Initrd: initrd},
		dir:    dir,
	}
}

// spec is a VM named id with its own runtime dir and disk (a copy of
// disk, or a new empty one).
func (f snapFixture) spec(t *testing.T, id, disk string) vmm.Spec {
	t.Helper()
	run := filepath.Join(f.dir, id)
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	own := filepath.Join(f.dir, id+".disk")
	if disk == "" {
		if err := os.WriteFile(own, make([]byte, 4<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	} else if out, err := exec.CommandContext(t.Context(), "cp", "--reflink=auto", disk, own).CombinedOutput(); err != nil {
		t.Fatalf("copy disk: %v\n%s", err, out)
	}
	return vmm.Spec{
		ID: id, RuntimeDir: run, ConsoleLog: filepath.Join(f.dir, id+".console"),
		Kernel: f.kernel, Cmdline: "quiet", CPUs: 1, MemoryMiB: 256,
		Drives: []vmm.Drive{{ID: "root", Path: own, Root: true}},
	}
}

func cleanupMachine(t *testing.T, m vmm.Machine) {
	t.Cleanup(func() { _ = m.Kill(context.Background()); _ = m.Cleanup() })
}

// memStats reads a process's smaps_rollup: Rss, Pss and Private_Dirty in
// KiB.
func memStats(pid int) (rss, pss, dirty int) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "Rss:":
			rss = n
		case "Pss:":
			pss = n
		case "Private_Dirty:":
			dirty = n
		}
	}
	return rss, pss, dirty
}

func fileKiB(t *testing.T, path string) (size, allocated int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	du, _ := exec.CommandContext(t.Context(), "du", "-k", path).Output()
	allocated, _ = strconv.ParseInt(strings.Fields(string(du) + " 0")[0], 10, 64)
	return fi.Size() / 1024, allocated
}
