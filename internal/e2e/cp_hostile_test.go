package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCpFromAHostileGuest: a guest (root in it) prepares a tree meant to
// make `banger cp VM:PATH DST` write outside DST — links to host paths,
// links up, a setuid program, a name with a newline, hardlinks, a named
// pipe — and the copy keeps everything inside DST.
func TestCpFromAHostileGuest(t *testing.T) {
	f := env(t)
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	f.must(t, "exec", id, "--", "sh", "-c", strings.Join([]string{
		"mkdir -p /t/sub",
		"ln -s " + outside + " /t/abs",     // an absolute link to a host directory
		"ln -s ../../../outside /t/sub/up", // a relative link climbing out
		"echo x > /t/su && chmod 4755 /t/su",
		"echo nl > \"/t/two\nlines\"",
		"echo same > /t/a && ln /t/a /t/b",
	}, " && "))

	dst := filepath.Join(base, "dst")
	f.must(t, "cp", id+":/t", dst)
	for name, want := range map[string]string{"abs": outside, "sub/up": "../../../outside"} {
		if got, err := os.Readlink(filepath.Join(dst, name)); err != nil || got != want {
			t.Errorf("%s: %q, %v; want a link to %q, copied as a link", name, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "su")); err != nil || fi.Mode()&fs.ModeSetuid != 0 {
		t.Errorf("setuid file arrived as %v, %v; want the bit dropped", fi, err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "two\nlines")); err != nil || string(b) != "nl\n" {
		t.Errorf("name with a newline: %q, %v", b, err)
	}
	for _, n := range []string{"a", "b"} {
		if fi, err := os.Lstat(filepath.Join(dst, n)); err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
			t.Errorf("hard-linked %s arrived as %v, %v; want a file of its own", n, fi, err)
		}
	}

	// A named pipe stops the copy, with nothing outside either.
	f.must(t, "exec", id, "--", "mkfifo", "/t/sub/pipe")
	if _, errOut, code := f.cli(nil, "cp", id+":/t", filepath.Join(base, "dst2")); code == 0 || !strings.Contains(errOut, "not copied") {
		t.Errorf("copying a named pipe: exit %d %q; want it refused", code, errOut)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("written outside the destination: %v", ents)
	}
	if ents, _ := os.ReadDir(base); len(ents) != 3 {
		t.Errorf("the destination's parent holds %v; want outside, dst and dst2", ents)
	}
}
