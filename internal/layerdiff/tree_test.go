package layerdiff_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/guestpaths"
	"github.com/bangerdev/banger/internal/imagepull"
)

// node is one path of a tree as a test compares it.
type node struct {
	Type     byte
	Mode     int64
	UID, GID int
	Data     string // content or link target
	MTime    int64  // UnixNano
	Xattrs   string
	Links    string // every path of a multi-link file, sorted
}

func (n node) String() string {
	return fmt.Sprintf("{type %c mode %#o owner %d:%d data %q mtime %d xattrs %q links %q}", n.Type, n.Mode, n.UID, n.GID, n.Data, n.MTime, n.Xattrs, n.Links)
}

// model is a tree by path ("etc/passwd"), without the root.
type model map[string]node

// skipped reports paths a comparison leaves out: banger's own (they are in
// no layer) and ext4's lost+found (in the image, in no tar).
func skipped(p string) bool {
	return p == "lost+found" || guestpaths.Under("/"+p, guestpaths.Owned())
}

// dirModel reads the tree at root with Lstat.
func dirModel(t testing.TB, root string) model {
	t.Helper()
	m := model{}
	groups := map[uint64][]string{}
	err := filepath.WalkDir(root, func(abs string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p, _ := filepath.Rel(root, abs)
		if p == "." {
			return nil
		}
		if skipped(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(abs, &st); err != nil {
			return err
		}
		n := node{Mode: int64(st.Mode & 0o7777), UID: int(st.Uid), GID: int(st.Gid), MTime: st.Mtim.Nano(), Xattrs: xattrString(t, abs)}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			n.Type = tar.TypeDir
		case unix.S_IFREG:
			n.Type = tar.TypeReg
			b, err := os.ReadFile(abs)
			if err != nil {
				return err
			}
			n.Data = string(b)
			if st.Nlink > 1 {
				groups[st.Ino] = append(groups[st.Ino], p)
			}
		case unix.S_IFLNK:
			n.Type = tar.TypeSymlink
			n.Data, err = os.Readlink(abs)
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: unexpected type %#o", p, st.Mode&unix.S_IFMT)
		}
		m[p] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		setLinks(m, g)
	}
	return m
}

func setLinks(m model, paths []string) {
	if len(paths) < 2 {
		return
	}
	slices.Sort(paths)
	s := strings.Join(paths, ",")
	for _, p := range paths {
		n := m[p]
		n.Links = s
		m[p] = n
	}
}

func xattrString(t testing.TB, abs string) string {
	t.Helper()
	sz, err := unix.Llistxattr(abs, nil)
	if errors.Is(err, unix.ENOTSUP) || sz == 0 {
		return ""
	}
	buf := make([]byte, sz)
	n, err := unix.Llistxattr(abs, buf)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" {
			continue
		}
		v := make([]byte, 4096)
		vn, err := unix.Lgetxattr(abs, name, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, name+"="+string(v[:vn]))
	}
	slices.Sort(out)
	return strings.Join(out, ";")
}

// tarModel reads a flattened tar (each path once, links after targets).
func tarModel(t testing.TB, b []byte) model {
	t.Helper()
	m := model{}
	groups := map[string][]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := strings.TrimSuffix(hdr.Name, "/")
		if skipped(p) {
			continue
		}
		if hdr.Typeflag == tar.TypeLink {
			target := strings.TrimSuffix(hdr.Linkname, "/")
			m[p] = m[target]
			if groups[target] == nil {
				groups[target] = []string{target}
			}
			groups[target] = append(groups[target], p)
			continue
		}
		n := node{Type: hdr.Typeflag, Mode: hdr.Mode & 0o7777, UID: hdr.Uid, GID: hdr.Gid, MTime: hdr.ModTime.UnixNano(), Data: hdr.Linkname}
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			n.Data = string(data)
		}
		var xs []string
		for k, v := range hdr.PAXRecords {
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				xs = append(xs, name+"="+v)
			}
		}
		slices.Sort(xs)
		n.Xattrs = strings.Join(xs, ";")
		m[p] = n
	}
	for _, g := range groups {
		setLinks(m, g)
	}
	return m
}

// flatten applies layers (oldest first) with imagepull.Flatten and returns
// the merged tree as one tar.
func flatten(t testing.TB, layers ...[]byte) []byte {
	t.Helper()
	var ls []imagepull.Layer
	for i, l := range layers {
		ls = append(ls, imagepull.Layer{ID: fmt.Sprintf("layer%d", i), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(l)), nil
		}})
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	if _, err := imagepull.Flatten(t.Context(), ls, tw, imagepull.FlattenOptions{TmpDir: t.TempDir()}); err != nil {
		t.Fatalf("flatten: %v", err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sameModel fails the test where got and want differ.
func sameModel(t testing.TB, got, want model) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		switch {
		case !ok:
			t.Errorf("/%s missing, want %v", p, want[p])
		case g != want[p]:
			t.Errorf("/%s\n got %v\nwant %v", p, g, want[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[p]; !ok {
			t.Errorf("/%s should not exist: %v", p, got[p])
		}
	}
}

// member is a tar entry as the member-by-member checks see it.
type member struct {
	Name     string
	Type     byte
	Link     string
	Data     string
	Mode     int64
	UID, GID int
}

func members(t testing.TB, b []byte) []member {
	t.Helper()
	var out []member
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, member{Name: hdr.Name, Type: hdr.Typeflag, Link: hdr.Linkname, Data: string(data), Mode: hdr.Mode, UID: hdr.Uid, GID: hdr.Gid})
	}
}
