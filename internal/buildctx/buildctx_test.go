package buildctx

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// writeContext makes a context directory from a map of relative path to
// content ("->target" makes a symlink, a trailing "/" a directory).
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(name, "/"):
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(content, "->"):
			if err := os.Symlink(content[2:], p); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

func roundTrip(t *testing.T, dir string) (*Upload, PackStats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := Pack(&buf, dir, []byte("FROM scratch\n"))
	if err != nil {
		t.Fatalf("Pack: %v", err)
	}
	up, err := Receive(&buf, t.TempDir(), 0)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return up, st
}

func TestPackReceive(t *testing.T) {
	dir := writeContext(t, map[string]string{
		"app/main.sh":      "#!/bin/sh\necho hi\n",
		"app/conf":         "secret=no",
		"app/link":         "->main.sh",
		"build.log":        "noise",
		"logs/a.log":       "noise",
		"secret/key":       "k",
		"secret/keep":      "kept",
		"empty/":           "",
		".dockerignore":    "*.log\n**/*.log\nsecret\n!secret/keep\n",
		"escape/passwd":    "->/etc/passwd",
		"escape/up":        "->../../x",
		"escape/inside/ok": "->../passwd",
	})
	if err := os.Chmod(filepath.Join(dir, "app/main.sh"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "app/conf"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "app/conf"), filepath.Join(dir, "app/conf2")); err != nil {
		t.Fatal(err)
	}
	up, st := roundTrip(t, dir)
	if string(up.Dockerfile) != "FROM scratch\n" {
		t.Errorf("dockerfile = %q", up.Dockerfile)
	}
	tr := up.Context
	for _, gone := range []string{"build.log", "logs/a.log", "secret/key"} {
		if _, ok := tr.entries[gone]; ok {
			t.Errorf("%s sent despite .dockerignore", gone)
		}
	}
	for name, mode := range map[string]fs.FileMode{
		"app/main.sh": 0o750, "app/conf": 0o600, "app/conf2": 0o600, "secret/keep": 0o644,
		"empty": fs.ModeDir | 0o755, "app/link": fs.ModeSymlink | 0o777,
	} {
		e, ok := tr.entries[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if e.Mode != mode {
			t.Errorf("%s mode = %v, want %v", name, e.Mode, mode)
		}
		if e.UID != 0 || e.GID != 0 {
			t.Errorf("%s owner = %d:%d, want root", name, e.UID, e.GID)
		}
	}
	c1 := tr.entries["app/conf"]
	c2 := tr.entries["app/conf2"]
	if c1.Digest == "" || c1.Digest != c2.Digest {
		t.Errorf("hard link digests %q %q", c1.Digest, c2.Digest)
	}
	if st.Ignored < 3 || st.Files < 4 {
		t.Errorf("stats = %+v", st)
	}
}

func TestSelect(t *testing.T) {
	dir := writeContext(t, map[string]string{
		"a.txt":            "a",
		"b.txt":            "b",
		"d/x":              "x",
		"d/sub/y":          "y",
		"link":             "->d/x",
		"dirlink":          "->d",
		"abs":              "->/etc/passwd",
		"up":               "->../outside",
		"viaabs/f":         "f",
		"loop1":            "->loop2",
		"loop2":            "->loop1",
		"d/sub/back":       "->../../a.txt",
		"d/sub/backtoofar": "->../../../a.txt",
	})
	tr, _ := roundTrip(t, dir)
	for _, tc := range []struct {
		src   string
		names []string // Match.Name
		paths []string // Match.Entry.Path
		err   error
		msg   string
	}{
		{src: "a.txt", names: []string{"a.txt"}, paths: []string{"a.txt"}},
		{src: "/a.txt", names: []string{"a.txt"}, paths: []string{"a.txt"}},
		{src: "./d/../a.txt", names: []string{"a.txt"}, paths: []string{"a.txt"}},
		{src: "*.txt", names: []string{"a.txt", "b.txt"}, paths: []string{"a.txt", "b.txt"}},
		{src: "link", names: []string{"link"}, paths: []string{"d/x"}},
		{src: "dirlink/sub/y", names: []string{"y"}, paths: []string{"d/sub/y"}},
		{src: "d/sub/back", names: []string{"back"}, paths: []string{"a.txt"}},
		{src: ".", names: []string{""}, paths: []string{""}},
		{src: "d", names: []string{"d"}, paths: []string{"d"}},
		{src: "abs", err: errdefs.ErrInvalid, msg: "points out of the build context"},
		{src: "up", err: errdefs.ErrInvalid, msg: "points out of the build context"},
		{src: "d/sub/backtoofar", err: errdefs.ErrInvalid, msg: "points out of the build context"},
		{src: "../etc/passwd", err: errdefs.ErrInvalid, msg: "outside the build context"},
		{src: "loop1", err: errdefs.ErrInvalid, msg: "too many levels"},
		{src: "nope", err: errdefs.ErrNotFound, msg: "no such file in the build context"},
		{src: "a.txt/x", err: errdefs.ErrInvalid, msg: "not a directory"},
		{src: "*.none", err: errdefs.ErrNotFound, msg: "no file matches"},
	} {
		t.Run(tc.src, func(t *testing.T) {
			ms, err := tr.Context.Select(tc.src)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("Select = %v, want %v saying %q", err, tc.err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names, paths []string
			for _, m := range ms {
				names, paths = append(names, m.Name), append(paths, m.Entry.Path)
			}
			if !reflect.DeepEqual(names, tc.names) || !reflect.DeepEqual(paths, tc.paths) {
				t.Errorf("Select = %v %v, want %v %v", names, paths, tc.names, tc.paths)
			}
		})
	}
}

// readLayer answers a layer's entries as "name mode uid:gid [content|->link]".
func readLayer(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	r := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r)
		line := h.Name + " " + fs.FileMode(h.Mode).String() + " " + itoa(h.Uid) + ":" + itoa(h.Gid)
		if h.Linkname != "" {
			line += " ->" + h.Linkname
		} else if h.Typeflag == tar.TypeReg {
			line += " " + string(body)
		}
		out = append(out, line)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestWriteLayer(t *testing.T) {
	dir := writeContext(t, map[string]string{"f": "file", "d/x": "x", "d/l": "->x", "d/e/": ""})
	tr, _ := roundTrip(t, dir)
	ctx := tr.Context
	sel := func(src string) []Match {
		ms, err := ctx.Select(src)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	for _, tc := range []struct {
		name    string
		matches []Match
		spec    CopySpec
		want    []string
	}{
		{"file to file", sel("f"), CopySpec{Dest: "/etc/conf"}, []string{"etc/conf -rw-r--r-- 0:0 file"}},
		{"file into dir", sel("f"), CopySpec{Dest: "/opt", DestDir: true}, []string{"opt/f -rw-r--r-- 0:0 file"}},
		{"dir contents, chown, chmod", sel("d"), CopySpec{Dest: "/app", DestDir: true, Chown: &Owner{1, 2}, Chmod: 0o640}, []string{
			"app/e/ -rw-r----- 1:2", "app/l -rwxrwxrwx 1:2 ->x", "app/x -rw-r----- 1:2 x",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteLayer(&buf, tc.matches, tc.spec); err != nil {
				t.Fatal(err)
			}
			if got := readLayer(t, buf.Bytes()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	var root bytes.Buffer
	if err := WriteLayer(&root, sel("f"), CopySpec{Dest: "/"}); err == nil {
		t.Error("copying a file onto / succeeded")
	}
}

func TestInputDigest(t *testing.T) {
	digest := func(content string, mtime time.Time, spec CopySpec) string {
		dir := writeContext(t, map[string]string{"f": content})
		if err := os.Chtimes(filepath.Join(dir, "f"), mtime, mtime); err != nil {
			t.Fatal(err)
		}
		up, _ := roundTrip(t, dir)
		ms, err := up.Context.Select("f")
		if err != nil {
			t.Fatal(err)
		}
		d, err := InputDigest(ms, spec)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t0, t1 := time.Unix(1e9, 0), time.Unix(2e9, 0)
	base := digest("a", t0, CopySpec{Dest: "/f"})
	if digest("a", t1, CopySpec{Dest: "/f"}) != base {
		t.Error("a touched file changed the digest")
	}
	for name, d := range map[string]string{
		"content": digest("b", t0, CopySpec{Dest: "/f"}),
		"dest":    digest("a", t0, CopySpec{Dest: "/g"}),
		"owner":   digest("a", t0, CopySpec{Dest: "/f", Chown: &Owner{1, 1}}),
		"mode":    digest("a", t0, CopySpec{Dest: "/f", Chmod: 0o600}),
	} {
		if d == base {
			t.Errorf("a change of %s kept the digest", name)
		}
	}
}
