package agentclient

import (
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"
)

// TestCopyTreeRefusesBadNames: names that are not one path element stop
// a copy whatever sftp client delivers them.
func TestCopyTreeRefusesBadNames(t *testing.T) {
	for _, name := range []string{"..", ".", "a/b", "../x", "", "nul\x00"} {
		src := mapFS{"/t": {mode: fs.ModeDir | 0o755, list: []hinfo{{name: name, mode: 0o644}}}}
		base := t.TempDir()
		root, err := os.OpenRoot(base)
		if err != nil {
			t.Fatal(err)
		}
		err = copyTree(context.Background(), src, rootFS{root}, "/t", "dst", 0)
		_ = root.Close()
		if err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("entry %q: %v; want it refused", name, err)
		}
	}
}

// mapFS is a hostile source without sftp in between.
type mapFS map[string]*hnode

func (m mapFS) Lstat(p string) (fs.FileInfo, error) {
	n, ok := m[path.Clean(p)]
	if !ok {
		return nil, os.ErrNotExist
	}
	return hinfo{name: path.Base(p), mode: n.mode}, nil
}
func (m mapFS) ReadDir(p string) ([]fs.FileInfo, error) {
	var out []fs.FileInfo
	for _, e := range m[path.Clean(p)].list {
		out = append(out, e)
	}
	return out, nil
}
func (m mapFS) Open(p string) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(m[path.Clean(p)].data)), nil
}
func (mapFS) Create(string, fs.FileMode) (io.WriteCloser, error) { return nil, os.ErrPermission }
func (mapFS) Mkdir(string, fs.FileMode) error                    { return os.ErrPermission }
func (mapFS) Chmod(string, fs.FileMode) error                    { return os.ErrPermission }
func (mapFS) Chtimes(string, fs.FileInfo) error                  { return os.ErrPermission }
func (m mapFS) Readlink(p string) (string, error)                { return m[path.Clean(p)].target, nil }
func (mapFS) Symlink(string, string) error                       { return os.ErrPermission }
func (mapFS) Join(elem ...string) string                         { return path.Join(elem...) }
