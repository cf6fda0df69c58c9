package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteAtomicReplacesAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"first", "second, longer"} {
		if err := WriteAtomic(p, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v", b, err)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", fi.Mode())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temp files left: %v", entries)
	}
	if err := WriteAtomic(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Error("write into a missing directory must fail")
	}
}

func TestSHA256(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := SHA256(p)
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; err != nil || got != want {
		t.Fatalf("SHA256 = %s, %v", got, err)
	}
	if _, err := SHA256(p + ".nope"); err == nil {
		t.Fatal("missing file: want an error")
	}
}

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CopyFile(src, dst, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	fi, serr := os.Stat(dst)
	if err != nil || string(b) != "content" || serr != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("copy %q %v, mode %v %v", b, err, fi.Mode(), serr)
	}
	if err := CopyFile(src, dst, 0o600); !errors.Is(err, os.ErrExist) {
		t.Fatalf("copy onto an existing file: %v", err)
	}
}

func TestUnlisted(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"kept", "left", "also-left"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Unlisted(dir, map[string]bool{"kept": true})
	want := []string{filepath.Join(dir, "also-left"), filepath.Join(dir, "left")}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Unlisted = %v, %v; want %v", got, err, want)
	}
	if got, err := Unlisted(filepath.Join(dir, "absent"), nil); err != nil || len(got) != 0 {
		t.Errorf("Unlisted of a missing dir = %v, %v", got, err)
	}
}

// RemoveOrphans returns the orphans and removes only them, and nothing
// on a dry run.
func TestRemoveOrphans(t *testing.T) {
	dir := t.TempDir()
	type obj struct {
		path   string
		orphan bool
	}
	var objs []obj
	for i, orphan := range []bool{true, false, true} {
		p := filepath.Join(dir, fmt.Sprint(i))
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, obj{p, orphan})
	}
	path := func(o obj) (string, bool) { return o.path, o.orphan }
	for _, dry := range []bool{true, false} {
		got, err := RemoveOrphans(objs, path, dry)
		if err != nil || len(got) != 2 || got[0] != objs[0] || got[1] != objs[2] {
			t.Fatalf("dry run %v: RemoveOrphans = %v, %v", dry, got, err)
		}
		for _, o := range objs {
			_, err := os.Stat(o.path)
			if gone := errors.Is(err, os.ErrNotExist); gone != (o.orphan && !dry) {
				t.Errorf("dry run %v: %s gone=%v", dry, o.path, gone)
			}
		}
	}
}
