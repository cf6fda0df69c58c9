package agentclient

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pkg/sftp"
)

// hnode is one file of a hostile guest: what the sftp server says about a
// path, whatever it is.
type hnode struct {
	mode fs.FileMode
	// then are the modes later Lstat calls answer, in turn: a guest that
	// swaps a symlink for a directory between the listing and the descent.
	then   []fs.FileMode
	data   string
	target string  // symlink target
	list   []hinfo // a directory's entries, names as sent
}

// hinfo is a directory entry as the hostile server lists it.
type hinfo struct {
	name string
	mode fs.FileMode
	size int64
}

func (i hinfo) Name() string       { return i.name }
func (i hinfo) Size() int64        { return i.size }
func (i hinfo) Mode() fs.FileMode  { return i.mode }
func (i hinfo) ModTime() time.Time { return time.Unix(1577934245, 0) }
func (i hinfo) IsDir() bool        { return i.mode.IsDir() }
func (i hinfo) Sys() any           { return nil }

type listerAt []os.FileInfo

func (l listerAt) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off >= int64(len(l)) {
		return 0, io.EOF
	}
	n := copy(out, l[off:])
	if n < len(out) {
		return n, io.EOF
	}
	return n, nil
}

// hostileFS serves nodes (by cleaned path) over sftp: listings may name
// "../x", "a/b" or one name twice, links may point anywhere, a path may
// change type between two looks.
type hostileFS map[string]*hnode

func (h hostileFS) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	n, ok := h[path.Clean(r.Filepath)]
	if !ok {
		return nil, os.ErrNotExist
	}
	return strings.NewReader(n.data), nil
}

func (hostileFS) Filewrite(*sftp.Request) (io.WriterAt, error) { return nil, os.ErrPermission }
func (hostileFS) Filecmd(*sftp.Request) error                  { return os.ErrPermission }

func (h hostileFS) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	p := path.Clean(r.Filepath)
	n, ok := h[p]
	if !ok {
		return nil, os.ErrNotExist
	}
	switch r.Method {
	case "List":
		out := make(listerAt, len(n.list))
		for i, e := range n.list {
			out[i] = e
		}
		return out, nil
	case "Readlink":
		return listerAt{hinfo{name: n.target}}, nil
	}
	mode := n.mode
	if len(n.then) > 0 {
		n.mode, n.then = n.then[0], n.then[1:]
	}
	return listerAt{hinfo{name: path.Base(p), mode: mode, size: int64(len(n.data))}}, nil
}

// hostileClient is an sftp client talking to the hostile server.
func hostileClient(t *testing.T, h hostileFS) *sftp.Client {
	t.Helper()
	cs, ss := net.Pipe()
	srv := sftp.NewRequestServer(ss, sftp.Handlers{FileGet: h, FilePut: h, FileCmd: h, FileList: h})
	go func() { _ = srv.Serve() }()
	c, err := sftp.NewClientPipe(cs, cs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); _ = srv.Close() })
	return c
}

// TestCopyOutFromAHostileGuest copies from a guest whose sftp server lies
// in every way a root guest could make it, and asserts nothing is written
// outside the destination, whatever the copy's outcome.
func TestCopyOutFromAHostileGuest(t *testing.T) {
	dir, reg, sym := fs.ModeDir|0o755, fs.FileMode(0o644), fs.ModeSymlink|0o777
	tests := []struct {
		name string
		// tree is served under /t; outside is a host directory next to the
		// destination, its absolute path given to the tree.
		tree    func(outside string) hostileFS
		wantErr string
		// either: success or failure are both fine (the sftp client
		// already reduces a listed name to its last element); only where
		// things land is checked.
		either bool
		// check looks at the copy in dst when it succeeded.
		check func(t *testing.T, dst string)
	}{
		{
			name: "an entry named ../x",
			tree: func(string) hostileFS {
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "../escape", mode: reg}}}, "/escape": {mode: reg, data: "pwned"}}
			},
			either: true,
		},
		{
			name: "an entry with a slash",
			tree: func(string) hostileFS {
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "a/../../x", mode: reg}}}, "/x": {mode: reg, data: "pwned"}}
			},
			either: true,
		},
		{
			name: "an absolute symlink, then a directory of the same name written through it",
			tree: func(outside string) hostileFS {
				return hostileFS{
					"/t":         {mode: dir, list: []hinfo{{name: "l", mode: sym}, {name: "l", mode: dir}}},
					"/t/l":       {mode: sym, then: []fs.FileMode{dir}, target: outside, list: []hinfo{{name: "pwned", mode: reg}}},
					"/t/l/pwned": {mode: reg, data: "pwned"},
				}
			},
			wantErr: "not a directory",
		},
		{
			name: "a relative symlink up, then written through",
			tree: func(string) hostileFS {
				return hostileFS{
					"/t":          {mode: dir, list: []hinfo{{name: "up", mode: sym}, {name: "up", mode: dir}}},
					"/t/up":       {mode: sym, then: []fs.FileMode{dir}, target: "../outside", list: []hinfo{{name: "pwned", mode: reg}}},
					"/t/up/pwned": {mode: reg, data: "pwned"},
				}
			},
			wantErr: "not a directory",
		},
		{
			name: "a symlink, then a file of the same name",
			tree: func(outside string) hostileFS {
				return hostileFS{
					"/t":   {mode: dir, list: []hinfo{{name: "f", mode: sym}, {name: "f", mode: reg}}},
					"/t/f": {mode: sym, then: []fs.FileMode{reg}, target: filepath.Join(outside, "target"), data: "pwned"},
				}
			},
			wantErr: "f",
		},
		{
			name: "absolute and escaping symlinks alone are copied as links",
			tree: func(outside string) hostileFS {
				return hostileFS{
					"/t":     {mode: dir, list: []hinfo{{name: "abs", mode: sym}, {name: "rel", mode: sym}}},
					"/t/abs": {mode: sym, target: outside},
					"/t/rel": {mode: sym, target: "../../../../etc/shadow"},
				}
			},
			check: func(t *testing.T, dst string) {
				for name, want := range map[string]string{"abs": "", "rel": "../../../../etc/shadow"} {
					got, err := os.Readlink(filepath.Join(dst, name))
					if err != nil || (want != "" && got != want) {
						t.Errorf("%s: link %q, %v; want it copied as a link", name, got, err)
					}
				}
			},
		},
		{
			name: "hard-linked names arrive as separate files",
			tree: func(string) hostileFS {
				return hostileFS{
					"/t":   {mode: dir, list: []hinfo{{name: "a", mode: reg, size: 4}, {name: "b", mode: reg, size: 4}}},
					"/t/a": {mode: reg, data: "same"}, "/t/b": {mode: reg, data: "same"},
				}
			},
			check: func(t *testing.T, dst string) {
				for _, n := range []string{"a", "b"} {
					fi, err := os.Lstat(filepath.Join(dst, n))
					if err != nil || fi.Sys().(*syscall.Stat_t).Nlink != 1 {
						t.Errorf("%s: %v, %v; want a file of its own", n, fi, err)
					}
				}
			},
		},
		{
			name: "a device node",
			tree: func(string) hostileFS {
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "sda", mode: fs.ModeDevice | 0o660}}}, "/t/sda": {mode: fs.ModeDevice | 0o660}}
			},
			wantErr: "sda",
		},
		{
			name: "a named pipe",
			tree: func(string) hostileFS {
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "p", mode: fs.ModeNamedPipe | 0o600}}}, "/t/p": {mode: fs.ModeNamedPipe | 0o600}}
			},
			wantErr: "not copied",
		},
		{
			name: "a name with a newline lands inside, verbatim",
			tree: func(string) hostileFS {
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "evil\n../x", mode: reg, size: 2}}}, "/t/evil\n../x": {mode: reg, data: "ok"}}
			},
			either: true,
		},
		{
			name: "a name with a newline and no slash",
			tree: func(string) hostileFS {
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "two\nlines", mode: reg, size: 2}}}, "/t/two\nlines": {mode: reg, data: "ok"}}
			},
			check: func(t *testing.T, dst string) {
				if b, err := os.ReadFile(filepath.Join(dst, "two\nlines")); err != nil || string(b) != "ok" {
					t.Errorf("file with a newline: %q, %v", b, err)
				}
			},
		},
		{
			name: "a setuid program loses the bit",
			tree: func(string) hostileFS {
				m := fs.FileMode(0o755) | fs.ModeSetuid | fs.ModeSetgid
				return hostileFS{"/t": {mode: dir, list: []hinfo{{name: "su", mode: m, size: 2}}}, "/t/su": {mode: m, data: "#!"}}
			},
			check: func(t *testing.T, dst string) {
				fi, err := os.Stat(filepath.Join(dst, "su"))
				if err != nil || fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 || fi.Mode().Perm() != 0o755 {
					t.Errorf("setuid program copied as %v, %v; want 0755 without setuid/setgid", fi.Mode(), err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			outside := filepath.Join(base, "outside")
			if err := os.Mkdir(outside, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(outside, "target"), []byte("untouched"), 0o644); err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(base, "dst")
			err := copyOut(context.Background(), guestFS{hostileClient(t, tt.tree(outside))}, "/t", dst)
			switch {
			case tt.either:
				t.Logf("copy: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("copy: %v; want an error mentioning %q", err, tt.wantErr)
			case tt.wantErr == "" && err != nil:
				t.Errorf("copy: %v", err)
			case err == nil && tt.check != nil:
				tt.check(t, dst)
			}
			assertOnlyIn(t, base, dst, outside)
		})
	}
}

// assertOnlyIn checks that base holds nothing but dst (and what is under
// it) and the untouched outside directory.
func assertOnlyIn(t *testing.T, base, dst, outside string) {
	t.Helper()
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if p := filepath.Join(base, e.Name()); p != dst && p != outside {
			t.Errorf("written outside the destination: %s", p)
		}
	}
	ents, _ = os.ReadDir(outside)
	if names := names(ents); !slices.Equal(names, []string{"target"}) {
		t.Errorf("the directory next to the destination now holds %q", names)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "target")); !bytes.Equal(b, []byte("untouched")) {
		t.Errorf("a file outside the destination was written: %q", b)
	}
}

func names(ents []os.DirEntry) []string {
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
