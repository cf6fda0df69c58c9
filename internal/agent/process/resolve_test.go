package process

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Links resolve inside the root as after a chroot: an absolute target
// from the root, ".." stopping at it; a loop is ELOOP. LookPath finds a
// program behind an absolute link that only the root has.
func TestStatInFollowsLinksInsideTheRoot(t *testing.T) {
	root := t.TempDir()
	writeExe(t, filepath.Join(root, "opt/ctr-only/tool"), 0o755)
	links := map[string]string{
		"bin/tool":   "/opt/ctr-only/tool",            // absolute: the root's, not the machine's
		"bin/up":     "../../../../opt/ctr-only/tool", // ".." stops at the root
		"bin/rel":    "tool",
		"bin/loop1":  "loop2",
		"bin/loop2":  "loop1",
		"bin/escape": "/etc/passwd", // the machine has it; the root does not
	}
	for name, target := range links {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"bin/tool", "bin/up", "bin/rel", "/bin/./rel"} {
		if fi, err := StatIn(root, name); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("StatIn(%s) = %v, %v; want the root's tool", name, fi, err)
		}
	}
	if _, err := StatIn(root, "bin/loop1"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("a loop: %v, want ELOOP", err)
	}
	if _, err := StatIn(root, "bin/escape"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a link to a file only the machine has: %v, want not found", err)
	}
	if p, err := LookPath(root, "tool", "/bin", "/"); err != nil || p != filepath.Join(root, "bin/tool") {
		t.Errorf("LookPath behind an absolute link = %q, %v", p, err)
	}
}
