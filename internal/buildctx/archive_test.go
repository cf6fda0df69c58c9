package buildctx

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"reflect"
	"strings"
	"testing"
)

func TestUnpack(t *testing.T) {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, h := range []tar.Header{
		{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o750},
		{Name: "dir/f", Typeflag: tar.TypeReg, Mode: 0o600, Size: 2, Uid: 7, Gid: 8},
		{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
	} {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = tw.Write([]byte("hi"))
		}
	}
	_ = tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(tarball.Bytes())
	_ = zw.Close()
	evil := tarOf(t, tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644})
	dir := writeContext(t, map[string]string{"plain.txt": "not an archive", "a.tar": tarball.String(), "a.tgz": gz.String(), "evil.tar": string(evil)})
	up, _ := roundTrip(t, dir)
	for _, tc := range []struct {
		src    string
		max    int64
		ok     bool
		layer  []string
		errMsg string
	}{
		{src: "plain.txt"},
		{src: "a.tar", ok: true, layer: []string{"opt/abs -rwxrwxrwx 0:0 ->/etc/passwd", "opt/dir/ -rwxr-x--- 0:0", "opt/dir/f -rw------- 7:8 hi"}},
		{src: "a.tgz", ok: true, layer: []string{"opt/abs -rwxrwxrwx 0:0 ->/etc/passwd", "opt/dir/ -rwxr-x--- 0:0", "opt/dir/f -rw------- 7:8 hi"}},
		{src: "evil.tar", errMsg: `".." in the name: invalid`},
		// An ADD archive is bounded as an image's files are, not as the
		// build context (no .dockerignore can help).
		{src: "a.tar", max: 1, errMsg: "the files are over 0 MiB, the bound image.max_layer_bytes sets: invalid"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			ms, err := up.Context.Select(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			m, ok, err := Unpack(ms[0], t.TempDir(), tc.max)
			if tc.errMsg != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errMsg) {
					t.Fatalf("Unpack = %v, want a refusal saying %q", err, tc.errMsg)
				}
				return
			}
			if err != nil || ok != tc.ok {
				t.Fatalf("Unpack = %v, %v", ok, err)
			}
			if !ok {
				return
			}
			var buf bytes.Buffer
			if err := WriteLayer(&buf, []Match{m}, CopySpec{Dest: "/opt/", DestDir: true}); err != nil {
				t.Fatal(err)
			}
			if got := readLayer(t, buf.Bytes()); !reflect.DeepEqual(got, tc.layer) {
				t.Errorf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.layer, "\n"))
			}
		})
	}
}

func tarOf(t *testing.T, hs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close()
	return buf.Bytes()
}
