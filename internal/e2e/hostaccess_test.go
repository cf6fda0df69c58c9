package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// nobody is the non-root member of the socket's group the tests act as.
const nobody = 65534

// asMember lets uid 65534 reach the fixture's socket as a member of its
// group would: the socket's group becomes 65534's own and the state root
// searchable (both restored at the test's end); the CLI binary is copied
// where that uid may execute it. It returns how to run the real CLI as
// that uid: its own process, so the daemon sees uid 65534 in SO_PEERCRED.
func asMember(t *testing.T, f *fixture) func(args ...string) (string, string, int) {
	t.Helper()
	shareSocket(t, f, f.layout.Socket)
	bin := testutil.SearchableTempDir(t)
	exe := copyExecutable(t, f.banger, bin, "banger")
	return func(args ...string) (string, string, int) {
		return runAs(t, nobody, []string{"HOME=" + bin, "PATH=/usr/bin:/bin"}, exe, append([]string{"--host", f.host}, args...)...)
	}
}

// TestBindMountsAreAPrivilegeBoundary: a non-root member of the socket's
// group (the real CLI run as uid 65534) cannot share or copy a host
// directory it could not reach itself — /etc read-write or read-only,
// root's home, a symlink in its own directory pointing there, a stdout
// path in /etc — and is told which path, which access, for which uid, and
// what to do; nothing is left. Its own directory is shared, and the
// guest's write lands in it.
func TestBindMountsAreAPrivilegeBoundary(t *testing.T) {
	f := env(t)
	cli := asMember(t, f)
	mine := filepath.Join(f.root, "member")
	if err := os.Mkdir(mine, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(mine) })
	if err := os.Chown(mine, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/root", filepath.Join(mine, "toroot")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-v", "/etc:/x"}, "-v /etc:/x: uid 65534 may not use host path /etc for read and write access: no write (w) permission on it"},
		{[]string{"-v", "/etc:/x:ro"}, "-v /etc:/x:ro: uid 65534 may not use host path /etc for read access: the directory is owned by uid 0"},
		{[]string{"-v", "/root:/x:ro"}, "uid 65534 may not use host path /root for read access: no read (r) or search (x) permission on it"},
		{[]string{"-v", filepath.Join(mine, "toroot") + ":/x"}, "uid 65534 may not use host path " + filepath.Join(mine, "toroot")},
		{[]string{"--mount", "type=image,source=/etc,target=/x"}, "--mount type=image,source=/etc,target=/x: uid 65534 may not use host path /etc"},
	} {
		args := append(append([]string{"run", "--rm", "--name", "hostile"}, tt.args...), "busybox", "--", "true")
		_, errOut, code := cli(args...)
		if code != 125 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "or run the command as root") {
			t.Errorf("%v as uid %d: exit %d, stderr %q; want 125 and %q", tt.args, nobody, code, errOut, tt.want)
		}
	}
	if _, _, code := f.cli(nil, "inspect", "hostile"); code == 0 {
		t.Error("a refused bind left a VM")
	}
	// The member's own directory, through a symlink to it: shared, written.
	if err := os.Symlink(mine, filepath.Join(f.root, "member-link")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(f.root, "member-link")) })
	out, errOut, code := cli("run", "--rm", "-v", filepath.Join(f.root, "member-link")+":/data", "busybox", "--", "sh", "-c", "echo from-guest > /data/g.txt && echo done")
	if code != 0 || strings.TrimSpace(out) != "done" {
		t.Fatalf("the member's own directory: exit %d, stdout %q, stderr %q\ndaemon log:\n%s", code, out, errOut, f.logTail())
	}
	if b, err := os.ReadFile(filepath.Join(mine, "g.txt")); err != nil || string(b) != "from-guest\n" {
		t.Errorf("the guest's write: %q, %v", b, err)
	}
	f.assertNoOrphans(t)
}
