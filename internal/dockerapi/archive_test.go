package dockerapi

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
)

// tarOf builds a tar of entries (a name ending in / is a directory,
// "->" a symlink, "=>" a hard link).
func tarOf(t *testing.T, entries ...string) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e, Mode: 0o640, ModTime: time.Unix(1600000000, 0), Typeflag: tar.TypeReg}
		var body string
		switch {
		case strings.Contains(e, "->"):
			h.Name, h.Linkname, _ = strings.Cut(e, "->")
			h.Typeflag = tar.TypeSymlink
		case strings.Contains(e, "=>"):
			h.Name, h.Linkname, _ = strings.Cut(e, "=>")
			h.Typeflag = tar.TypeLink
		case strings.HasPrefix(e, "fifo:"):
			h.Name, h.Typeflag = strings.TrimPrefix(e, "fifo:"), tar.TypeFifo
		case strings.HasSuffix(e, "/"):
			h.Typeflag, h.Mode = tar.TypeDir, 0o750
		default:
			body = "data of " + e
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(tw, body)
	}
	_ = tw.Close()
	return &b
}

// TestArchiveRoundTrip: docker cp into the container extracts the tar
// into the directory (modes, times, links), HEAD and GET describe a path
// in X-Docker-Container-Path-Stat, and GET answers the tree as a tar
// named by the path's last element.
func TestArchiveRoundTrip(t *testing.T) {
	e := newOpsEnv(t, runningVM)
	e.withAgent(t)
	dir := t.TempDir()
	srv := httptest.NewServer(e.s)
	defer srv.Close()

	body := tarOf(t, "app/", "app/a.txt", "app/sub/", "app/sub/b.txt", "app/link->a.txt", "app/hard=>app/a.txt")
	rec := do(e.s, "PUT", "/v1.41/containers/web/archive?path="+url.QueryEscape(dir), body.String())
	if rec.Code != 200 {
		t.Fatalf("PUT archive: %d %s", rec.Code, rec.Body)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "app/sub/b.txt")); err != nil || string(b) != "data of app/sub/b.txt" {
		t.Errorf("extracted file: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "app/a.txt")); err != nil || fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(time.Unix(1600000000, 0)) {
		t.Errorf("extracted file's mode and time: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "app")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("extracted directory's mode: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(dir, "app/link")); err != nil || l != "a.txt" {
		t.Errorf("symlink: %q %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(dir, "app/a.txt"))
	if h, err := os.Stat(filepath.Join(dir, "app/hard")); err != nil || !os.SameFile(a, h) {
		t.Errorf("hard link is not the same file: %v", err)
	}

	rec = do(e.s, "HEAD", "/containers/web/archive?path="+url.QueryEscape(dir+"/app/link"), "")
	st := pathStat(t, rec.Header().Get(pathStatHeader))
	if rec.Code != 200 || st.Name != "link" || st.Mode&fs.ModeSymlink == 0 || st.LinkTarget != dir+"/app/a.txt" {
		t.Errorf("HEAD of a symlink: %d %+v", rec.Code, st)
	}

	rec = do(e.s, "GET", "/containers/web/archive?path="+url.QueryEscape(dir+"/app"), "")
	if st := pathStat(t, rec.Header().Get(pathStatHeader)); rec.Code != 200 || st.Name != "app" || !st.Mode.IsDir() {
		t.Fatalf("GET archive: %d %+v", rec.Code, st)
	}
	got := map[string]string{}
	tr := tar.NewReader(rec.Body)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("GET archive's tar: %v", err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b) + h.Linkname
	}
	want := map[string]string{"app/": "", "app/a.txt": "data of app/a.txt", "app/hard": "data of app/a.txt", "app/link": "a.txt", "app/sub/": "", "app/sub/b.txt": "data of app/sub/b.txt"}
	if len(got) != len(want) {
		t.Errorf("tar entries %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tar entry %q = %q, want %q", k, got[k], v)
		}
	}

	for _, tc := range []struct {
		method, path string
		code         int
		msg          string
	}{
		{"GET", dir + "/nope", 404, "Could not find the file " + dir + "/nope in container"},
		{"PUT", dir + "/nope", 404, "Could not find the file"},
		{"PUT", dir + "/app/a.txt", 400, "extraction point is not a directory"},
		{"GET", "", 400, "give the container path"},
	} {
		rec := do(e.s, tc.method, "/containers/web/archive?path="+url.QueryEscape(tc.path), tarOf(t, "x").String())
		if rec.Code != tc.code || !strings.Contains(message(t, rec), tc.msg) {
			t.Errorf("%s %s: %d %s, want %d %q", tc.method, tc.path, rec.Code, rec.Body, tc.code, tc.msg)
		}
	}
}

func pathStat(t *testing.T, h string) container.PathStat {
	t.Helper()
	var st container.PathStat
	b, err := base64.StdEncoding.DecodeString(h)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		t.Fatalf("%s %q: %v", pathStatHeader, h, err)
	}
	return st
}

// TestArchiveRefusesHostileTars: a client's tar whose names leave the
// directory (absolute, "..", below a symlink the same tar made, a hard
// link to outside) or that holds a device or fifo is refused, and
// nothing lands outside the directory.
func TestArchiveRefusesHostileTars(t *testing.T) {
	e := newOpsEnv(t, runningVM)
	e.withAgent(t)
	root := t.TempDir()
	dir := filepath.Join(root, "in")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, entries := range [][]string{
		{"../escape"},
		{"a/../../escape"},
		{root + "/escape"},
		{"l->" + root, "l/escape"},
		{"l->..", "l/escape"},
		{"h=>../escape"},
		{"fifo:escape"},
	} {
		rec := do(e.s, "PUT", "/containers/web/archive?path="+url.QueryEscape(dir), tarOf(t, entries...).String())
		if rec.Code != 400 || !strings.Contains(message(t, rec), "refusing it") && !strings.Contains(message(t, rec), "not copied") {
			t.Errorf("tar %q: %d %s, want 400 refusing it", entries, rec.Code, rec.Body)
		}
		if _, err := os.Lstat(filepath.Join(root, "escape")); err == nil {
			t.Fatalf("tar %q wrote outside the directory", entries)
		}
	}
	if rec := do(e.s, "PUT", "/containers/web/archive?path="+url.QueryEscape(dir), "not a tar at all, but long enough to be read as a header............................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................"); rec.Code != 400 {
		t.Errorf("a body that is not a tar: %d %s, want 400", rec.Code, rec.Body)
	}
}

// FuzzTarName: whatever a client names an entry, tarName answers a
// relative path inside the directory, or refuses it.
func FuzzTarName(f *testing.F) {
	for _, s := range []string{"a", "a/b/", "./a", "../a", "/etc/passwd", "a/../../b", "a/./b", "", ".", "a\x00b", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		name, err := tarName(raw)
		if err != nil {
			return
		}
		if name == "" {
			return
		}
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") || strings.Contains(name, "\x00") {
			t.Fatalf("tarName(%q) = %q: outside the directory", raw, name)
		}
		if j := filepath.Join("/base", name); !strings.HasPrefix(j, "/base/") {
			t.Fatalf("tarName(%q) = %q joins to %q", raw, name, j)
		}
	})
}
