package buildctx

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The destination directories a COPY creates get mode 0755 and the
// --chown owner, as BuildKit's copy (fsutil's MkdirAll) gives them;
// directories the image has are not in the layer, so they stay as
// they were.
func TestWriteLayerCreatesDestDirs(t *testing.T) {
	dir := writeContext(t, map[string]string{"f": "file", "d/x": "x"})
	up, _ := roundTrip(t, dir)
	sel := func(src string) []Match {
		ms, err := up.Context.Select(src)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	app := &Owner{1000, 1001}
	for _, tc := range []struct {
		name    string
		matches []Match
		spec    CopySpec
		want    []string
	}{
		{"missing dest dir and parent", sel("f"),
			CopySpec{Dest: "/app/sub", DestDir: true, Chown: app, Existing: map[string]PathKind{}},
			[]string{"app/ -rwxr-xr-x 1000:1001", "app/sub/ -rwxr-xr-x 1000:1001", "app/sub/f -rw-r--r-- 1000:1001 file"}},
		{"existing parent stays", sel("f"),
			CopySpec{Dest: "/app/sub", DestDir: true, Chown: app, Existing: map[string]PathKind{"/app": Dir}},
			[]string{"app/sub/ -rwxr-xr-x 1000:1001", "app/sub/f -rw-r--r-- 1000:1001 file"}},
		{"existing dest stays", sel("f"),
			CopySpec{Dest: "/app", DestDir: true, Chown: app, Existing: map[string]PathKind{"/app": Dir}},
			[]string{"app/f -rw-r--r-- 1000:1001 file"}},
		{"without --chown root owns them", sel("f"),
			CopySpec{Dest: "/app/", DestDir: true, Chmod: 0o600, Existing: map[string]PathKind{}},
			[]string{"app/ -rwxr-xr-x 0:0", "app/f -rw------- 0:0 file"}},
		{"a file to a name: its missing parents", sel("f"),
			CopySpec{Dest: "/opt/tool/conf", Chown: app, Existing: map[string]PathKind{"/opt": Dir}},
			[]string{"opt/tool/ -rwxr-xr-x 1000:1001", "opt/tool/conf -rw-r--r-- 1000:1001 file"}},
		{"a file onto an existing directory's name goes into it", sel("f"),
			CopySpec{Dest: "/etc", Existing: map[string]PathKind{"/etc": Dir}},
			[]string{"etc/f -rw-r--r-- 0:0 file"}},
		{"a file onto an existing file's name replaces it", sel("f"),
			CopySpec{Dest: "/etc/conf", Existing: map[string]PathKind{"/etc": Dir, "/etc/conf": NotDir}},
			[]string{"etc/conf -rw-r--r-- 0:0 file"}},
		{"a directory's contents into a missing dest", sel("d"),
			CopySpec{Dest: "/srv/www", Chown: app, Existing: map[string]PathKind{}},
			[]string{"srv/ -rwxr-xr-x 1000:1001", "srv/www/ -rwxr-xr-x 1000:1001", "srv/www/x -rw-r--r-- 1000:1001 x"}},
		{"below a symbolic link nothing is created", sel("f"),
			CopySpec{Dest: "/bin/tools/", DestDir: true, Chown: app, Existing: map[string]PathKind{"/bin": NotDir}},
			[]string{"bin/tools/f -rw-r--r-- 1000:1001 file"}},
		{"without Existing, as before", sel("f"),
			CopySpec{Dest: "/app/sub", DestDir: true, Chown: app},
			[]string{"app/sub/f -rw-r--r-- 1000:1001 file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.DirTime = time.Unix(1.7e9, 0)
			var buf bytes.Buffer
			if err := WriteLayer(&buf, tc.matches, tc.spec); err != nil {
				t.Fatal(err)
			}
			if got := readLayer(t, buf.Bytes()); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			// A file source copies no directory: every one is created.
			r := tar.NewReader(&buf)
			for h, err := r.Next(); err == nil && tc.matches[0].Entry.Mode.IsRegular(); h, err = r.Next() {
				if h.Typeflag == tar.TypeDir && !h.ModTime.Equal(tc.spec.DirTime) {
					t.Errorf("created %s has mtime %v, want the build's", h.Name, h.ModTime)
				}
			}
		})
	}
}

func TestDestPaths(t *testing.T) {
	for dest, want := range map[string][]string{
		"/":           nil,
		"/a":          {"/a"},
		"a/b/":        {"/a", "/a/b"},
		"/a/./b/../c": {"/a", "/a/c"},
	} {
		if got := (CopySpec{Dest: dest}).DestPaths(); !reflect.DeepEqual(got, want) {
			t.Errorf("DestPaths(%q) = %q, want %q", dest, got, want)
		}
	}
}

// Without DirTime a created directory takes the newest source's mtime,
// so writing the layer again (--no-cache) gives the same bytes.
func TestCreatedDirsAreReproducible(t *testing.T) {
	dir := writeContext(t, map[string]string{"f": "file"})
	mtime := time.Unix(1.6e9, 0)
	if err := os.Chtimes(filepath.Join(dir, "f"), mtime, mtime); err != nil {
		t.Fatal(err)
	}
	up, _ := roundTrip(t, dir)
	ms, err := up.Context.Select("f")
	if err != nil {
		t.Fatal(err)
	}
	spec := CopySpec{Dest: "/app/", DestDir: true, Existing: map[string]PathKind{}}
	var a, b bytes.Buffer
	if err := WriteLayer(&a, ms, spec); err != nil {
		t.Fatal(err)
	}
	if err := WriteLayer(&b, ms, spec); err != nil {
		t.Fatal(err)
	}
	h, err := tar.NewReader(bytes.NewReader(a.Bytes())).Next()
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "app/" || !h.ModTime.Equal(mtime) || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("first entry %s at %v (want app/ at %v); same bytes twice: %v", h.Name, h.ModTime, mtime, bytes.Equal(a.Bytes(), b.Bytes()))
	}
}
