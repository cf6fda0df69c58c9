package imagebuild

import (
	"archive/tar"
	"bytes"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/buildctx"
)

// headers is a layer of the given entries: "name/" a directory owned
// by 5:5 with mode 0700, "name->target" a symbolic link, else a file.
func headers(t *testing.T, names ...string) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, Typeflag: tar.TypeReg}
		switch {
		case strings.HasSuffix(n, "/"):
			h.Typeflag, h.Mode, h.Uid, h.Gid = tar.TypeDir, 0o700, 5, 5
		case strings.Contains(n, "->"):
			h.Name, h.Linkname, _ = strings.Cut(n, "->")
			h.Typeflag = tar.TypeSymlink
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close()
	return layerOfTar(t, buf.Bytes())
}

func imageOf(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestPathKinds(t *testing.T) {
	const d, f, a = buildctx.Dir, buildctx.NotDir, buildctx.Absent
	for _, tc := range []struct {
		name   string
		layers [][]string // oldest first
		paths  []string
		want   map[string]buildctx.PathKind
	}{
		{"named", [][]string{{"srv/", "srv/conf", "bin->usr/bin"}}, []string{"/srv", "/srv/conf", "/bin", "/opt"},
			map[string]buildctx.PathKind{"/srv": d, "/srv/conf": f, "/bin": f}},
		{"implied by a child", [][]string{{"etc/passwd"}}, []string{"/etc"}, map[string]buildctx.PathKind{"/etc": d}},
		{"newest layer wins", [][]string{{"app/"}, {".wh.app", "app"}}, []string{"/app"}, map[string]buildctx.PathKind{"/app": f}},
		{"whited out", [][]string{{"app/", "app/sub/"}, {".wh.app"}}, []string{"/app", "/app/sub"}, map[string]buildctx.PathKind{}},
		{"opaque keeps the dir, not its contents", [][]string{{"app/", "app/sub/"}, {"app/", "app/.wh..wh..opq"}}, []string{"/app", "/app/sub"},
			map[string]buildctx.PathKind{"/app": d}},
		{"a file hides an older directory's contents", [][]string{{"app/", "app/sub/"}, {".wh.app", "app"}}, []string{"/app", "/app/sub"},
			map[string]buildctx.PathKind{"/app": f}},
		{"older layers answer what newer ones do not name", [][]string{{"usr/", "usr/bin/"}, {"etc/"}}, []string{"/usr", "/usr/bin", "/etc"},
			map[string]buildctx.PathKind{"/usr": d, "/usr/bin": d, "/etc": d}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ls []v1.Layer
			for _, l := range tc.layers {
				ls = append(ls, headers(t, l...))
			}
			got, err := pathKinds(imageOf(t, ls...), tc.paths)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range got {
				if v == a {
					delete(got, k)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("kinds %v, want %v", got, tc.want)
			}
		})
	}
}

// COPY --chown gives the directories it creates the owner, and leaves
// the image's own directories as they were; a file copied onto an
// existing directory's name goes into it.
func TestCopyCreatesDestDirs(t *testing.T) {
	e := newEnv(t)
	base := imageOf(t, headers(t, "srv/", "etc/", "etc/passwd"))
	cf, _ := base.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	base, err := mutate.ConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.images.Store(t.Context(), "dirs", base, nil); err != nil {
		t.Fatal(err)
	}
	res, _, err := e.build("FROM dirs\n"+
		"COPY --chown=1000:1001 run.sh /opt/app/bin/\n"+
		"COPY --chown=1000:1001 run.sh /srv/\n"+
		"COPY --chown=7:8 run.sh /srv/sub/tool.sh\n"+
		"COPY run.sh /etc\n"+
		"WORKDIR /work/app\n"+
		"COPY --chown=1000:1001 run.sh ./\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.images.OCI(res.Name)
	if err != nil {
		t.Fatal(err)
	}
	got := files(t, img)
	const script = "#!/bin/sh\necho run\n"
	for p, want := range map[string]string{
		"opt":                "-rwxr-xr-x 1000:1001 ",
		"opt/app":            "-rwxr-xr-x 1000:1001 ",
		"opt/app/bin":        "-rwxr-xr-x 1000:1001 ",
		"opt/app/bin/run.sh": "-rw-r--r-- 1000:1001 " + script,
		"srv":                "-rwx------ 5:5 ",
		"srv/run.sh":         "-rw-r--r-- 1000:1001 " + script,
		"srv/sub":            "-rwxr-xr-x 7:8 ",
		"srv/sub/tool.sh":    "-rw-r--r-- 7:8 " + script,
		"etc":                "-rwx------ 5:5 ",
		"etc/run.sh":         "-rw-r--r-- 0:0 " + script,
		// WORKDIR's directories are not COPY's to create.
		"work":            "",
		"work/app/run.sh": "-rw-r--r-- 1000:1001 " + script,
	} {
		if got[p] != want {
			t.Errorf("%s: %q, want %q", p, got[p], want)
		}
	}
}
