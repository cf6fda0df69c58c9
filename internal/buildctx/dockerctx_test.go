package buildctx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// dockerTar is a docker build context: headers, each regular file's
// content its Linkname field's text (the header's own Linkname is
// cleared for regular files).
func dockerTar(t testing.TB, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body, h.Linkname = h.Linkname, ""
			h.Size = int64(len(body))
		}
		h.Mode = 0o644
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write([]byte(body))
	}
	_ = tw.Close()
	return buf.Bytes()
}

func reg(name, body string) tar.Header {
	return tar.Header{Name: name, Typeflag: tar.TypeReg, Linkname: body}
}

// TestReceiveContext: the Dockerfile is found at the path asked (a
// symlink to it inside the context is followed; "dockerfile" stands in
// for a missing "Dockerfile"), every other entry is the context; a
// hostile name or a Dockerfile outside the context is refused; gzip is
// read, other compressions are refused by name.
func TestReceiveContext(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return buf.Bytes()
	}
	plain := dockerTar(t, reg("Dockerfile", "FROM a\n"), reg("./src/main.go", "x"))
	for _, tc := range []struct {
		name, dockerfile string
		body             []byte
		want, msg        string
	}{
		{"default", "", plain, "FROM a\n", ""},
		{"gzip", "Dockerfile", gz(plain), "FROM a\n", ""},
		{"nested -f", "build/Dockerfile.dev", dockerTar(t, reg("build/Dockerfile.dev", "FROM b\n")), "FROM b\n", ""},
		{"lowercase", "", dockerTar(t, reg("dockerfile", "FROM c\n")), "FROM c\n", ""},
		{"symlink inside", "", dockerTar(t, reg("real", "FROM d\n"), tar.Header{Name: "Dockerfile", Typeflag: tar.TypeSymlink, Linkname: "real"}), "FROM d\n", ""},
		{"stdin name", ".dockerfile.8a2b", dockerTar(t, reg(".dockerfile.8a2b", "FROM e\n")), "FROM e\n", ""},
		{"missing", "", dockerTar(t, reg("a", "b")), "", "cannot locate specified Dockerfile: Dockerfile"},
		{"missing -f", "x/Dockerfile", plain, "", "cannot locate specified Dockerfile: x/Dockerfile"},
		{"a directory", "src", plain, "", "not a regular file"},
		{"absolute -f", "/etc/passwd", plain, "", "must be relative"},
		{"dotdot -f", "../Dockerfile", plain, "", "outside the build context"},
		{"symlink out", "", dockerTar(t, tar.Header{Name: "Dockerfile", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"}), "", "points out of the build context"},
		{"dotdot name", "", dockerTar(t, reg("Dockerfile", "FROM a"), reg("../../etc/cron.d/x", "boom")), "", `".." in the name`},
		{"absolute name", "", dockerTar(t, reg("/etc/x", "boom")), "", "absolute"},
		{"bzip2", "", []byte("BZh91AY&SY"), "", "bzip2 is not supported"},
		{"xz", "", []byte{0xfd, '7', 'z', 'X', 'Z', 0, 0}, "", "xz is not supported"},
		{"not a tar", "", []byte("hello, this is not a tar stream at all, but it is long enough to be read as a header block"), "", "build context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			up, err := ReceiveContext(bytes.NewReader(tc.body), dir, tc.dockerfile, 1<<20)
			if tc.msg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.msg) || !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("err = %v, want an invalid-argument error with %q", err, tc.msg)
				}
				return
			}
			if err != nil || string(up.Dockerfile) != tc.want {
				t.Fatalf("= %v, %v; want Dockerfile %q", up, err, tc.want)
			}
			// Contents sit under the tree's own numbered names, never the stream's.
			names, _ := os.ReadDir(dir)
			for _, n := range names {
				if strings.Trim(n.Name(), "0123456789") != "" {
					t.Errorf("scratch holds %q", filepath.Join(dir, n.Name()))
				}
			}
		})
	}
	if _, err := ReceiveContext(bytes.NewReader(dockerTar(t, reg("Dockerfile", "FROM a"), reg("big", strings.Repeat("x", 2048)))), t.TempDir(), "", 1024); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("a context over its bound: %v", err)
	}
}

// FuzzReceiveContext: whatever the stream, an accepted context holds no
// entry that climbs out of it, and its Dockerfile is a file of it.
func FuzzReceiveContext(f *testing.F) {
	f.Add(dockerTar(f, reg("Dockerfile", "FROM a\n"), reg("a/b", "c"), tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "a/b"}), "Dockerfile")
	f.Add(dockerTar(f, reg("x", "FROM a\n"), tar.Header{Name: "Dockerfile", Typeflag: tar.TypeSymlink, Linkname: "x"}), "")
	f.Fuzz(func(t *testing.T, b []byte, dockerfile string) {
		up, err := ReceiveContext(bytes.NewReader(b), t.TempDir(), dockerfile, 1<<20)
		if err != nil {
			return
		}
		if len(up.Dockerfile) > maxDockerfile {
			t.Fatalf("Dockerfile of %d bytes", len(up.Dockerfile))
		}
		for p := range up.Context.entries {
			if strings.HasPrefix(p, "/") || strings.Contains("/"+p+"/", "/../") {
				t.Fatalf("entry %q kept", p)
			}
		}
	})
}
