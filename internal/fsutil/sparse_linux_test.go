package fsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func allocated(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// CopyExtents copies data and keeps holes holes.
func TestCopyExtents(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "ram")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	chunk := bytes.Repeat([]byte("guest"), 1000)
	for _, off := range []int64{0, 10 << 20, size - int64(len(chunk))} {
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.Close()
	out, err := os.Create(filepath.Join(dir, "copy"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = in.Close() }()
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := CopyExtents(out, in); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(src)
	b, _ := os.ReadFile(out.Name())
	if !bytes.Equal(a, b) {
		t.Fatal("the copy differs")
	}
	if blocks := allocated(t, out.Name()); blocks > 8<<20 {
		t.Errorf("the copy of a 64 MiB file with 15 KB of data allocates %d bytes", blocks)
	}
}
