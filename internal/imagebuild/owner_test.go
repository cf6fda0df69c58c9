package imagebuild

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/buildctx"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestOwnerReadsOnlyAccounts: --chown=NAME resolves from /etc/passwd and
// /etc/group without writing the image's other files to the scratch
// directory, and through a symlinked /etc/passwd (read from the whole
// tree) to the same owner.
func TestOwnerReadsOnlyAccounts(t *testing.T) {
	const passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/app:/bin/sh\n"
	const group = "root:x:0:\nstaff:x:50:\n"
	for _, tc := range []struct {
		name  string
		files []*tar.Header
		// blobs is how many files the scratch directory may hold.
		blobs int
	}{
		{"plain files", []*tar.Header{
			{Name: "etc/passwd", Typeflag: tar.TypeReg, Size: int64(len(passwd))},
			{Name: "etc/group", Typeflag: tar.TypeReg, Size: int64(len(group))},
			{Name: "usr/lib/big", Typeflag: tar.TypeReg, Size: 1 << 16},
		}, 2},
		{"symlinked passwd", []*tar.Header{
			{Name: "etc/passwd", Typeflag: tar.TypeSymlink, Linkname: "../usr/share/passwd"},
			{Name: "etc/group", Typeflag: tar.TypeReg, Size: int64(len(group))},
			{Name: "usr/share/passwd", Typeflag: tar.TypeReg, Size: int64(len(passwd))},
		}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tc.files {
				h.Mode = 0o644
				if err := tw.WriteHeader(h); err != nil {
					t.Fatal(err)
				}
				body := map[string]string{"etc/passwd": passwd, "usr/share/passwd": passwd, "etc/group": group}[h.Name]
				if h.Size > int64(len(body)) {
					body = string(make([]byte, h.Size))
				}
				if h.Typeflag == tar.TypeReg {
					_, _ = tw.Write([]byte(body))
				}
			}
			_ = tw.Close()
			scratch := t.TempDir()
			r := &build{opts: Options{ScratchDir: scratch}, trees: map[string]*buildctx.Tree{}}
			img := imageOf(t, layerOfTar(t, buf.Bytes()))
			o, err := r.owner(t.Context(), img, "app:staff")
			if err != nil {
				t.Fatal(err)
			}
			if o != (buildctx.Owner{UID: 1000, GID: 50}) {
				t.Errorf("owner = %+v, want 1000:50", o)
			}
			if o, err := r.owner(t.Context(), img, "app"); err != nil || o != (buildctx.Owner{UID: 1000, GID: 1001}) {
				t.Errorf("owner of app = %+v, %v; want its primary group 1001", o, err)
			}
			n := 0
			_ = filepath.WalkDir(scratch, func(_ string, d os.DirEntry, _ error) error {
				if d != nil && d.Type().IsRegular() {
					n++
				}
				return nil
			})
			if n > tc.blobs {
				t.Errorf("the scratch directory holds %d files, want at most %d", n, tc.blobs)
			}
		})
	}
}

// TestImageTreeKeepsHardlinksAcrossLayers: a COPY --from reads an image's
// files as banger flattens them: a lower layer's hardlink whose target an
// upper layer overwrites keeps the old content, as in the image's ext4
// and in docker (go-containerregistry's mutate.Extract points it at the
// new file).
func TestImageTreeKeepsHardlinksAcrossLayers(t *testing.T) {
	layer := func(hs ...*tar.Header) v1.Layer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range hs {
			body := h.Linkname
			if h.Typeflag == tar.TypeReg {
				h.Size, h.Linkname = int64(len(body)), ""
			}
			h.Mode = 0o644
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				_, _ = tw.Write([]byte(body))
			}
		}
		_ = tw.Close()
		return layerOfTar(t, buf.Bytes())
	}
	img := imageOf(t,
		// A regular header's Linkname is its content here.
		layer(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Linkname: "old"}, &tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}),
		layer(&tar.Header{Name: "a", Typeflag: tar.TypeReg, Linkname: "new"}),
	)
	r := &build{opts: Options{ScratchDir: t.TempDir()}, trees: map[string]*buildctx.Tree{}}
	tree, err := r.imageTree(t.Context(), img)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "new", "b": "old"} {
		ms, err := tree.Select(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rc, err := tree.Open(ms[0].Entry)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		_ = rc.Close()
		if string(got) != want {
			t.Errorf("/%s holds %q, want %q", name, got, want)
		}
	}
}
