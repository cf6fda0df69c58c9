package agent

import (
	"os"
	"path/filepath"
	"testing"
)

// replaceFile puts the new content in place, world-readable, and leaves
// no temp file beside it; a directory it cannot write in fails, the old
// file untouched.
func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hostname")
	if err := os.WriteFile(p, []byte("image\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := replaceFile(p, []byte("web\n")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "web\n" {
		t.Errorf("content %q, %v; want web", b, err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d entries in the directory, want the file alone", len(ents))
	}
	if err := replaceFile(filepath.Join(dir, "absent", "hostname"), []byte("x")); err == nil {
		t.Error("a file in a missing directory: no error")
	}
}
