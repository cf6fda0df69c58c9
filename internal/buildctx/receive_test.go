package buildctx

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestReceiveHostile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []tar.Header
		msg     string
	}{
		{"no dockerfile", []tar.Header{{Name: "context/a", Typeflag: tar.TypeReg}}, "must start with the Dockerfile"},
		{"outside context", []tar.Header{{Name: "etc/passwd", Typeflag: tar.TypeReg}}, "outside context/"},
		{"dotdot", []tar.Header{{Name: "context/../../etc/passwd", Typeflag: tar.TypeReg}}, `".." in the name`},
		{"absolute", []tar.Header{{Name: "context//etc/x", Typeflag: tar.TypeReg}}, "absolute"},
		{"hardlink out", []tar.Header{{Name: "context/h", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"}}, "outside context/"},
		{"hardlink to nothing", []tar.Header{{Name: "context/h", Typeflag: tar.TypeLink, Linkname: "context/none"}}, "no earlier file"},
		{"root not dir", []tar.Header{{Name: "context/.", Typeflag: tar.TypeReg}}, "root must be a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			if tc.name != "no dockerfile" {
				_ = tw.WriteHeader(&tar.Header{Name: "Dockerfile", Typeflag: tar.TypeReg, Size: 0})
			}
			for _, h := range tc.entries {
				h.Mode = 0o644
				if err := tw.WriteHeader(&h); err != nil {
					t.Fatal(err)
				}
			}
			_ = tw.Close()
			_, err := Receive(&buf, t.TempDir(), 0)
			if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Receive = %v, want invalid saying %q", err, tc.msg)
			}
		})
	}
	t.Run("over the bound", func(t *testing.T) {
		dir := writeContext(t, map[string]string{"big": strings.Repeat("x", 1000)})
		var buf bytes.Buffer
		if _, err := Pack(&buf, dir, nil); err != nil {
			t.Fatal(err)
		}
		_, err := Receive(&buf, t.TempDir(), 100)
		if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), ".dockerignore") {
			t.Errorf("Receive = %v", err)
		}
	})
}

func FuzzReceive(f *testing.F) {
	var buf bytes.Buffer
	dir := f.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	_ = os.Symlink("a", filepath.Join(dir, "l"))
	_, _ = Pack(&buf, dir, []byte("FROM a\n"))
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		up, err := Receive(bytes.NewReader(b), t.TempDir(), 1<<20)
		if err != nil {
			return
		}
		for p, e := range up.Context.entries {
			if strings.HasPrefix(p, "/") || strings.Contains("/"+p+"/", "/../") {
				t.Fatalf("entry %q kept", p)
			}
			if ms, err := up.Context.Select(p); err == nil {
				_ = WriteLayer(io.Discard, ms, CopySpec{Dest: "/x/", DestDir: true})
			}
			_ = e
		}
	})
}
