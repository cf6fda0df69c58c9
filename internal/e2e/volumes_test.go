package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
)

// hostDir makes a directory for a VM to share, with a file owned by
// uid:gid 4321 (not root, not the test's user).
func hostDir(t *testing.T, f *fixture, name string) string {
	t.Helper()
	dir := filepath.Join(f.root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	p := filepath.Join(dir, "h.txt")
	if err := os.WriteFile(p, []byte("from host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 4321, 4321); err != nil {
		t.Fatal(err)
	}
	return dir
}

// virtiofsds counts the VM's virtiofsd processes (each is two once the VMM
// connects: itself and its sandboxed child).
func virtiofsds(id string) int {
	n := 0
	for _, pid := range pidsOf(id) {
		if env, err := proc.Environ(pid); err == nil && strings.Contains(strings.Join(env, "\n"), volumes.EnvRole+"="+volumes.RoleVirtiofsd) {
			n++
		}
	}
	return n
}

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

// A shared directory is live both ways with the files' owners: the guest
// reads the host's file as its owner's, the host sees the guest's file
// as the guest user's and a host write appears in the guest at once. A
// :ro share refuses the guest's writes — even after the guest remounts it
// read-write, since the host enforces it. Every virtiofsd goes at stop
// and rm; the VM starts again with its shares.
func TestSharedDirectoryLiveBothWays(t *testing.T) {
	f := env(t)
	if _, err := volumes.FindVirtiofsd(f.cfg.QEMU.Virtiofsd); err != nil {
		testutil.Skip(t, err.Error())
	}
	rw, ro := hostDir(t, f, "share-rw"), hostDir(t, f, "share-ro")
	// The guest's user owns the shared directory, as a developer's own
	// uid owns the project directory they share.
	if err := os.Chown(rw, 1234, 1235); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(f.must(t, "run", "-d", "--name", "share", "-v", rw+":/data", "-v", ro+":/ro:ro", "busybox"))
	if n := virtiofsds(id); n != 4 {
		t.Errorf("%d virtiofsd processes, want 2 shares × (virtiofsd + its sandbox)", n)
	}
	if out := f.must(t, "exec", "share", "--", "sh", "-c", "stat -c %u:%g /data/h.txt; cat /data/h.txt"); out != "4321:4321\nfrom host\n" {
		t.Errorf("guest view of the host file: %q", out)
	}
	f.must(t, "exec", "-u", "1234:1235", "share", "--", "sh", "-c", "echo from guest > /data/g.txt")
	if b, err := os.ReadFile(filepath.Join(rw, "g.txt")); err != nil || string(b) != "from guest\n" {
		t.Fatalf("host view of the guest's file: %q, %v", b, err)
	}
	if uid, gid := owner(t, filepath.Join(rw, "g.txt")); uid != 1234 || gid != 1235 {
		t.Errorf("the guest's file is %d:%d on the host, want the guest user's 1234:1235", uid, gid)
	}
	if err := os.WriteFile(filepath.Join(rw, "late.txt"), []byte("late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := f.must(t, "exec", "share", "--", "cat", "/data/late.txt"); out != "late\n" {
		t.Errorf("a host write after boot reads %q in the guest", out)
	}
	out, errOut, code := f.cli(nil, "exec", "share", "--", "sh", "-c", "cat /ro/h.txt; echo x > /ro/x; mount -o remount,rw /ro; echo y > /ro/y")
	if code == 0 || out != "from host\n" || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf(":ro share: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, p := range []string{"x", "y"} {
		if _, err := os.Stat(filepath.Join(ro, p)); err == nil {
			t.Errorf("the guest wrote %s through a :ro share", p)
		}
	}
	f.must(t, "stop", "share")
	if n := len(pidsOf(id)); n != 0 {
		t.Errorf("%d processes of the VM left after stop", n)
	}
	assertNoInventory(t, f, id)
	f.must(t, "start", "share")
	if out := f.must(t, "exec", "share", "--", "cat", "/data/g.txt"); out != "from guest\n" {
		t.Errorf("after a restart the share reads %q", out)
	}
	f.must(t, "rm", "-f", "share")
	f.assertNoTrace(t, id)
}

// assertNoInventory checks the daemon's inventory lists nothing of a
// stopped VM but its persistent objects (its directory and lease).
func assertNoInventory(t *testing.T, f *fixture, id string) {
	t.Helper()
	c, _ := api.NewClient(f.host)
	objs, err := api.Do(t.Context(), c, api.Inventory, api.None{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.Owner == id && o.Kind != "vm-dir" && o.Kind != "lease" {
			t.Errorf("inventory lists %s %s of stopped vm %s", o.Kind, o.Name, id)
		}
	}
}

// A named volume outlives the VMs that mount it: a new one takes the
// image's content at its path; what one VM writes, the next reads; rm of
// the VM leaves it; volume rm refuses it while a VM mounts it; a second
// running VM cannot take it.
func TestNamedVolumeKeepsDataAcrossVMs(t *testing.T) {
	f := env(t)
	f.must(t, "volume", "create", "e2evol", "--size", "256M")
	t.Cleanup(func() { f.cli(nil, "volume", "rm", "e2evol") })
	f.must(t, "run", "--name", "writer", "-v", "e2evol:/etc", "busybox", "--", "sh", "-c", "echo kept > /etc/kept")
	out := f.must(t, "run", "--rm", "-v", "e2evol:/data", "busybox", "--", "sh", "-c", "cat /data/kept; head -1 /data/passwd; test -e /data/lost+found || echo no lost+found")
	if out != "kept\nroot:x:0:0:root:/root:/bin/sh\nno lost+found\n" {
		t.Errorf("second VM reads %q; want the first one's file, the image's /etc copied in, no lost+found", out)
	}
	_, errOut, code := f.cli(nil, "volume", "rm", "e2evol")
	if code == 0 || !strings.Contains(errOut, "in use by vm writer") {
		t.Errorf("volume rm of a volume a VM mounts: exit %d, %q", code, errOut)
	}
	f.must(t, "rm", "writer")
	holder := strings.TrimSpace(f.must(t, "run", "-d", "--name", "holder", "-v", "e2evol:/data", "busybox"))
	_, errOut, code = f.cli(nil, "run", "--rm", "-v", "e2evol:/data", "busybox", "--", "true")
	if code == 0 || !strings.Contains(errOut, "vm holder has it attached") {
		t.Errorf("a second running VM took the volume: exit %d, %q", code, errOut)
	}
	var vols []api.Volume
	if err := json.Unmarshal([]byte(f.must(t, "volume", "ls", "--format", "json")), &vols); err != nil {
		t.Fatal(err)
	}
	if len(vols) != 1 || vols[0].Name != "e2evol" || vols[0].AttachedTo != holder || vols[0].SizeBytes != 256<<20 {
		t.Errorf("volume ls: %+v", vols)
	}
	f.must(t, "rm", "-f", "holder")
	f.assertNoTrace(t, holder)
	f.must(t, "volume", "rm", "e2evol")
	if _, _, code := f.cli(nil, "volume", "inspect", "e2evol"); code == 0 {
		t.Error("the volume is still there after volume rm")
	}
	if _, err := os.Stat(f.layout.Volume("e2evol")); err == nil {
		t.Error("volume rm left its files")
	}
	// A create that crashed leaves a directory no volume names: gc's.
	orphan := f.layout.Volume(".new-crashed")
	if err := os.MkdirAll(orphan, 0o700); err != nil {
		t.Fatal(err)
	}
	var rep api.GCReport
	if err := json.Unmarshal([]byte(f.must(t, "gc", "--dry-run", "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Objects) != 1 || rep.Objects[0].Kind != "volume-dir" || rep.Objects[0].Name != orphan {
		t.Errorf("gc --dry-run found %+v, want the orphaned volume directory", rep.Objects)
	}
	f.must(t, "gc")
	if _, err := os.Stat(orphan); err == nil {
		t.Error("gc left the orphaned volume directory")
	}
}

// --mount type=image copies a directory into an ext4 drive with its
// owners; readonly refuses writes.
func TestImageMount(t *testing.T) {
	f := env(t)
	dir := hostDir(t, f, "site")
	out, errOut, code := f.cli(nil, "run", "--rm", "--mount", "type=image,source="+dir+",target=/site,readonly", "busybox", "--",
		"sh", "-c", "stat -c %u:%g /site/h.txt; cat /site/h.txt; echo x > /site/x")
	if code == 0 || out != "4321:4321\nfrom host\n" || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("image mount: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	f.assertNoOrphans(t)
}

// A mount that cannot work fails before anything boots, naming the flag,
// and leaves no VM behind.
func TestMountErrorsBeforeBoot(t *testing.T) {
	f := env(t)
	dir := hostDir(t, f, "errs")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-v", "/nonexistent/dir:/data"}, "-v /nonexistent/dir:/data: host path /nonexistent/dir does not exist"},
		{[]string{"-v", "./data:/data"}, `host path "./data" is relative`},
		{[]string{"-v", dir + ":/"}, "the guest path cannot be /"},
		{[]string{"-v", dir + ":/d", "-v", "/tmp:/d"}, "guest path /d is also the target of -v " + dir + ":/d"},
		{[]string{"-v", "novol:/data"}, "volume \"novol\": not found; create it with `banger volume create novol`"},
		{[]string{"-v", filepath.Join(dir, "h.txt") + ":/data"}, "is not a directory"},
		{[]string{"--mount", "type=image,source=" + dir}, "no guest path"},
	} {
		args := append(append([]string{"run", "--rm", "--name", "mounterr"}, tt.args...), "busybox", "--", "true")
		_, errOut, code := f.cli(nil, args...)
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, code, errOut, tt.want)
		}
	}
	if _, _, code := f.cli(nil, "inspect", "mounterr"); code == 0 {
		t.Error("a refused mount left a VM")
	}
	f.assertNoOrphans(t)
}
