package agentclient_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/agent/agenttest"
	"github.com/bangerdev/banger/internal/bootcfg"
)

type entry struct {
	mode    fs.FileMode
	content string // file content or symlink target
}

// makeTree writes a tree with varied modes, a nested directory, an empty
// directory and a symlink.
func makeTree(t *testing.T, root string) map[string]entry {
	t.Helper()
	tree := map[string]entry{
		".":            {fs.ModeDir | 0o750, ""},
		"run.sh":       {0o755, "#!/bin/sh\necho hi\n"},
		"secret":       {0o600, "s3cret"},
		"sub":          {fs.ModeDir | 0o755, ""},
		"sub/data.bin": {0o640, string(make([]byte, 300<<10))},
		"sub/empty":    {fs.ModeDir | 0o700, ""},
		"sub/link":     {fs.ModeSymlink, "../secret"},
		"sub/readonly": {0o444, "ro"},
	}
	for _, name := range []string{".", "sub", "sub/empty"} {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, e := range tree {
		p := filepath.Join(root, name)
		switch {
		case e.mode&fs.ModeSymlink != 0:
			if err := os.Symlink(e.content, p); err != nil {
				t.Fatal(err)
			}
			continue
		case e.mode.IsRegular():
			if err := os.WriteFile(p, []byte(e.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	for name, e := range tree { // modes last: directories may be read-only
		if e.mode&fs.ModeSymlink == 0 {
			if err := os.Chmod(filepath.Join(root, name), e.mode.Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tree
}

func checkTree(t *testing.T, root string, want map[string]entry) {
	t.Helper()
	for name, e := range want {
		p := filepath.Join(root, name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Type() != e.mode.Type() || (e.mode&fs.ModeSymlink == 0 && fi.Mode().Perm() != e.mode.Perm()) {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), e.mode)
		}
		switch {
		case e.mode&fs.ModeSymlink != 0:
			if target, _ := os.Readlink(p); target != e.content {
				t.Errorf("%s: link to %q, want %q", name, target, e.content)
			}
		case e.mode.IsRegular():
			if b, _ := os.ReadFile(p); string(b) != e.content {
				t.Errorf("%s: content differs (%d bytes, want %d)", name, len(b), len(e.content))
			}
			if fi.ModTime().Year() != 2020 {
				t.Errorf("%s: mtime %v not kept", name, fi.ModTime())
			}
		}
	}
	n := 0
	_ = filepath.WalkDir(root, func(string, fs.DirEntry, error) error { n++; return nil })
	if n != len(want) {
		t.Errorf("%s holds %d entries, want %d", root, n, len(want))
	}
}

// The in-process agent's guest file system is this machine's, so both ends
// are checked with plain os calls.
func TestCopyInAndOutKeepsTreesAndModes(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	host, guest, back := t.TempDir(), t.TempDir(), t.TempDir()
	want := makeTree(t, filepath.Join(host, "tree"))

	// Into an existing directory: the tree lands inside it (cp -r).
	if err := c.CopyIn(ctxT(t), filepath.Join(host, "tree"), guest); err != nil {
		t.Fatal(err)
	}
	checkTree(t, filepath.Join(guest, "tree"), want)

	// Out to a new name.
	if err := c.CopyOut(ctxT(t), filepath.Join(guest, "tree"), filepath.Join(back, "copy")); err != nil {
		t.Fatal(err)
	}
	checkTree(t, filepath.Join(back, "copy"), want)

	// A single file both ways.
	if err := c.CopyIn(ctxT(t), filepath.Join(host, "tree/run.sh"), filepath.Join(guest, "renamed.sh")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(guest, "renamed.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("single file copy: %v %v", fi, err)
	}
	if err := c.CopyOut(ctxT(t), "/no/such/file", back); err == nil {
		t.Fatal("copying a missing guest file succeeded")
	}
}

func TestSFTPClient(t *testing.T) {
	a := agenttest.Start(t, bootcfg.Config{})
	c := a.Dial(t)
	s, err := c.SFTP()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	p := filepath.Join(t.TempDir(), "f")
	f, err := s.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("via sftp")); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if b, err := os.ReadFile(p); err != nil || string(b) != "via sftp" {
		t.Fatalf("file written over sftp: %q %v", b, err)
	}
}
