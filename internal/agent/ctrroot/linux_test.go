package ctrroot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
)

// mountsUnder lists the mount points at or under dir (this namespace).
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// A real root, made on this machine as the guest makes it: a process
// chrooted in it runs as the container's own user ("user" in its
// /etc/passwd: the machine has none), sees the image's files and its own /proc and /dev, and
// writes to the overlay's tmpfs, never to the image's tree. Remove
// leaves no mount and no directory.
func TestLinuxRootRunsAChrootedProcess(t *testing.T) {
	testutil.RequireRoot(t)
	lower := testimages.BusyboxTree(t)
	if err := os.WriteFile(filepath.Join(lower, "etc/marker"), []byte("from the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := "ctrroot-test-" + strings.ReplaceAll(t.Name(), "/", "-")
	sys := Linux{}
	t.Cleanup(func() { _ = Remove(id, sys); _ = os.Remove(Dir) }) // Dir only when empty
	if err := Make(Spec{ID: id, Lower: lower}, sys); err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, Base(id)); len(got) < 5 {
		t.Fatalf("mounts under %s: %q; want the tmpfs, overlay, proc, sys and dev", Base(id), got)
	}
	cmd, _, err := process.Command("/", process.Spec{
		Argv:   []string{"sh", "-c", "cat /etc/marker; id -u; id -g; test -c /dev/null && echo dev; test -r /proc/self/status && echo proc; echo w > /tmp/new && cat /tmp/new"},
		Env:    []string{"PATH=/bin"},
		User:   "user",
		Chroot: Root(id),
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if want := "from the image\n1000\n1000\ndev\nproc\nw\n"; err != nil || string(out) != want {
		t.Errorf("chrooted process: %v\n%q\nwant %q", err, out, want)
	}
	if _, err := os.Stat(filepath.Join(lower, "tmp/new")); !os.IsNotExist(err) {
		t.Errorf("the container's write reached the image's tree: %v", err)
	}
	if err := Remove(id, sys); err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, Base(id)); len(got) != 0 {
		t.Errorf("after Remove, mounts left: %q", got)
	}
	if _, err := os.Stat(Base(id)); !os.IsNotExist(err) {
		t.Errorf("after Remove, %s: %v; want it gone", Base(id), err)
	}
}
