package cgroups

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// TestApplyJoinRemove makes a real group on this host's cgroups (v2, or v1
// on a hybrid host), starts a process in it, reads the limits and usage
// back, and removes it.
func TestApplyJoinRemove(t *testing.T) {
	testutil.RequireRoot(t)
	h := Detect()
	if h.Version == 0 {
		testutil.Skip(t, h.Why)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "test-" + hex.EncodeToString(b[:])
	p, err := PlanFor(h, "banger-test.slice", name, Limits{MemoryBytes: 64 << 20, Pids: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(p); err != nil {
		testutil.Skip(t, "cgroups not writable here: "+err.Error())
	}
	fd, err := Apply(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = Remove(p.Groups)
		for _, d := range p.Parents {
			_ = os.Remove(d) // shared with other tests' groups: only when empty
		}
	})
	if kids, err := Children(h, "banger-test.slice"); err != nil || !slices.Equal(kids[name], p.Groups) {
		t.Errorf("Children = %v, %v; want %s in %v", kids, err, name, p.Groups)
	}
	if (fd != nil) != (h.Version == 2) {
		t.Fatalf("Apply returned descriptor %v on cgroup v%d", fd, h.Version)
	}
	cmd := exec.Command("sleep", "30")
	if fd != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if fd != nil {
		_ = fd.Close()
	}
	if err := Join(p, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	for _, g := range p.Groups {
		procs, err := os.ReadFile(filepath.Join(g, "cgroup.procs"))
		if err != nil || strings.TrimSpace(string(procs)) != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("%s/cgroup.procs = %q, %v; want the child %d", g, procs, err, cmd.Process.Pid)
		}
	}
	for _, w := range p.Limits {
		got, err := os.ReadFile(w.Path)
		if err != nil || strings.TrimSpace(string(got)) != w.Value {
			t.Errorf("%s = %q, %v; want %s", w.Path, got, err, w.Value)
		}
	}
	mem, tasks, err := Usage(p.Version, p.Dirs)
	// cgroup v1 does not move what a task allocated before it joined.
	if err != nil || mem < 0 || (h.Version == 2 && mem == 0) || tasks != 1 {
		t.Errorf("usage: memory %d, tasks %d, %v; want memory counted and 1 task", mem, tasks, err)
	}
	if err := Remove(p.Groups); err == nil {
		t.Error("Remove of a group with a live task succeeded")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if err := Remove(p.Groups); err != nil {
		t.Fatal(err)
	}
	for _, g := range p.Groups {
		if _, err := os.Stat(g); !os.IsNotExist(err) {
			t.Errorf("group %s left: %v", g, err)
		}
	}
	if err := Remove(p.Groups); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if kids, err := Children(h, "banger-test.slice"); err != nil || kids[name] != nil {
		t.Errorf("Children after Remove = %v, %v; want no %s", kids, err, name)
	}
	if err := Remove([]string{t.TempDir()}); err == nil {
		t.Error("Remove accepted a directory that is not a cgroup")
	}
}
