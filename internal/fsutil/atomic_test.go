package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// WriteAtomicWith leaves the file complete or absent, never a temporary.
func TestWriteAtomicWith(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteAtomicWith(path, 0o600, func(f *os.File) error {
		_, _ = f.WriteString("half")
		return errors.New("qemu died")
	})
	if b, _ := os.ReadFile(path); err == nil || string(b) != "old" {
		t.Fatalf("failed write: %v, file %q; want the error and the old file", err, b)
	}
	if err := WriteAtomicWith(path, 0o600, func(f *os.File) error { _, err := f.WriteString("new"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("file %q after a write", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("dir holds %v; want only the file", entries)
	}
}
