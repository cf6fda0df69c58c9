package cpio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

type entry struct {
	h    Header
	data string
}

var sample = []entry{
	{Header{Name: "dev", Mode: TypeDir | 0o755}, ""},
	{Header{Name: "dev/console", Mode: TypeChar | 0o600, DevMajor: 5, DevMinor: 1}, ""},
	{Header{Name: "init", Mode: TypeReg | 0o755}, "#!/bin/sh\necho hi\n"},
	{Header{Name: "lib/odd", Mode: TypeReg | 0o644, UID: 1000, GID: 100}, "abc"},
	{Header{Name: "empty", Mode: TypeReg | 0o600}, ""},
	{Header{Name: "bin/sh", Mode: TypeSymlink | 0o777, Linkname: "/init"}, ""},
}

func write(t testing.TB, entries []entry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewWriter(&b)
	for _, e := range entries {
		h := e.h
		h.Size = int64(len(e.data))
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(b.Len()) {
		t.Fatalf("Written() = %d, wrote %d", w.Written(), b.Len())
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := write(t, sample)
	if len(data)%4 != 0 {
		t.Fatalf("archive length %d is not 4-aligned", len(data))
	}
	r := NewReader(bytes.NewReader(data))
	for i, want := range sample {
		h, err := r.Next()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		got, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != want.h.Name || h.Mode != want.h.Mode || h.UID != want.h.UID || h.GID != want.h.GID ||
			h.Linkname != want.h.Linkname || h.DevMajor != want.h.DevMajor || h.DevMinor != want.h.DevMinor {
			t.Errorf("entry %d = %+v, want %+v", i, h, want.h)
		}
		if h.Type() != TypeSymlink && string(got) != want.data {
			t.Errorf("entry %s content %q, want %q", h.Name, got, want.data)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last entry: %v, want EOF", err)
	}
}

// TestGNUCpioReadsOurs extracts our archive with GNU cpio, the reference
// implementation of newc.
func TestGNUCpioReadsOurs(t *testing.T) {
	bin := testutil.RequireBinary(t, "cpio", "cpio")
	dir := t.TempDir()
	entries := []entry{sample[0], sample[2], sample[3], sample[4], sample[5]} // no device node: needs root
	cmd := exec.CommandContext(context.Background(), bin, "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(write(t, entries))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.h.Name)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != e.h.FileMode() {
			t.Errorf("%s: mode %v, want %v", e.h.Name, fi.Mode(), e.h.FileMode())
		}
		if fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); string(b) != e.data {
				t.Errorf("%s: content %q", e.h.Name, b)
			}
		}
	}
	if l, _ := os.Readlink(filepath.Join(dir, "bin/sh")); l != "/init" {
		t.Errorf("symlink target %q", l)
	}
}

// TestReadsGNUCpio reads an archive GNU cpio wrote.
func TestReadsGNUCpio(t *testing.T) {
	bin := testutil.RequireBinary(t, "cpio", "cpio")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello"), []byte("hello, world\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hello", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), bin, "-o", "-H", "newc", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("hello\nlink\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(out))
	h, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	if h.Name != "hello" || h.FileMode() != 0o640 || string(b) != "hello, world\n" {
		t.Fatalf("hello = %+v %q", h, b)
	}
	h, err = r.Next()
	if err != nil || h.Linkname != "hello" || h.Type() != TypeSymlink {
		t.Fatalf("link = %+v, %v", h, err)
	}
}

func TestWriterRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Header
	}{
		{"empty name", Header{Name: "/", Mode: TypeReg}},
		{"trailer name", Header{Name: trailer, Mode: TypeReg}},
		{"NUL in name", Header{Name: "a\x00b", Mode: TypeReg}},
		{"fifo", Header{Name: "p", Mode: 0o010644}},
		{"too large", Header{Name: "big", Mode: TypeReg, Size: 1 << 33}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := NewWriter(io.Discard).WriteHeader(&tc.h); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	w := NewWriter(io.Discard)
	if err := w.WriteHeader(&Header{Name: "f", Mode: TypeReg, Size: 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("12345")); err == nil {
		t.Fatal("wrote past the entry's size")
	}
	if err := w.Close(); err == nil {
		t.Fatal("closed with a short entry")
	}
}

func TestReaderRejectsTruncatedAndForeign(t *testing.T) {
	data := write(t, sample)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", data[:len(data)/2]},
		{"odc magic", append([]byte("070707"), data[6:]...)},
		{"bad hex", append([]byte("070701zz"), data[8:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.data))
			var err error
			for err == nil {
				_, err = r.Next()
				if err == nil {
					_, err = io.Copy(io.Discard, r)
				}
			}
			if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("read to a clean end: %v", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	f.Add(write(f, sample))
	f.Fuzz(func(_ *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 1000 {
			if _, err := r.Next(); err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
		}
	})
}
