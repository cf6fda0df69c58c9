package imagepull

import (
	"archive/tar"
	"errors"
	"io"
	"strings"
	"testing"

	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
)

// want describes one expected path: its type, data (content or symlink
// target), and, when set, mode, owner and the path its inode is shared with.
type want struct {
	typ        byte
	data       string
	mode       int64
	uid, gid   int
	group      string
	xattr      string
	checkOwner bool
}

func file(data string) want       { return want{typ: tar.TypeReg, data: data} }
func dirW() want                  { return want{typ: tar.TypeDir} }
func symlinkW(target string) want { return want{typ: tar.TypeSymlink, data: target} }

func TestFlatten(t *testing.T) {
	capability := "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	tests := []struct {
		name    string
		layers  [][]rt.Entry
		want    map[string]want
		absent  []string
		skipped int
	}{{
		name: "whiteouts remove lower files and whole directories",
		layers: [][]rt.Entry{
			{rt.File("a", "1"), rt.Dir("d"), rt.File("d/x", "2"), rt.File("d/sub/y", "3"), rt.File("keep", "k")},
			{rt.Whiteout("a"), rt.Whiteout("d")},
		},
		want:   map[string]want{"keep": file("k")},
		absent: []string{"a", "d", "d/x", "d/sub/y"},
	}, {
		name: "an opaque directory hides lower contents but keeps its own",
		layers: [][]rt.Entry{
			{rt.Dir("d").WithMode(0o700), rt.File("d/old", "o"), rt.File("d/sub/deep", "x")},
			{rt.Opaque("d"), rt.File("d/new", "n")},
		},
		want:   map[string]want{"d": {typ: tar.TypeDir, mode: 0o700}, "d/new": file("n")},
		absent: []string{"d/old", "d/sub", "d/sub/deep"},
	}, {
		name: "an upper-layer hardlink to a lower-layer file",
		layers: [][]rt.Entry{
			{rt.File("bin/tool", "T").WithMode(0o755)},
			{rt.Hardlink("bin/alias", "bin/tool")},
		},
		want: map[string]want{
			"bin/tool":  {typ: tar.TypeReg, data: "T", mode: 0o755, group: "bin/alias"},
			"bin/alias": {typ: tar.TypeReg, data: "T", mode: 0o755, group: "bin/alias"},
		},
	}, {
		name: "a lower hardlink keeps the old content when an upper layer overwrites its target",
		layers: [][]rt.Entry{
			{rt.File("a", "old"), rt.Hardlink("b", "a")},
			{rt.File("a", "new")},
		},
		want: map[string]want{"a": {typ: tar.TypeReg, data: "new", group: "a"}, "b": {typ: tar.TypeReg, data: "old", group: "b"}},
	}, {
		name: "a lower hardlink survives with the content when an upper layer deletes its target",
		layers: [][]rt.Entry{
			{rt.File("a", "content").WithOwner(1000, 1000).WithMode(0o600), rt.Hardlink("b", "a")},
			{rt.Whiteout("a")},
		},
		want:   map[string]want{"b": {typ: tar.TypeReg, data: "content", mode: 0o600, uid: 1000, gid: 1000, checkOwner: true}},
		absent: []string{"a"},
	}, {
		name: "links across three layers follow inodes, not names",
		layers: [][]rt.Entry{
			{rt.File("a", "A0"), rt.Hardlink("b", "a")},
			{rt.Hardlink("c", "b")},
			{rt.File("a", "A2"), rt.Whiteout("b")},
		},
		want:   map[string]want{"a": file("A2"), "c": file("A0")},
		absent: []string{"b"},
	}, {
		name: "symlink chains, setuid, owners, mode 0000 and xattrs are kept",
		layers: [][]rt.Entry{{
			rt.Symlink("usr/bin/vi", "vim"), rt.Symlink("usr/bin/vim", "/usr/bin/vim.basic"),
			rt.File("usr/bin/vim.basic", "V").WithMode(0o755),
			rt.File("usr/bin/passwd", "P").WithMode(0o4755),
			rt.File("etc/shadow", "S").WithMode(0o640).WithOwner(0, 42),
			rt.File("home/user/.profile", "u").WithOwner(1000, 1000),
			rt.File("locked", "").WithMode(0),
			rt.File("usr/bin/ping", "p").WithMode(0o755).WithXattr("security.capability", capability),
			rt.Dir("tmp").WithMode(0o1777),
		}},
		want: map[string]want{
			"usr/bin/vi":         symlinkW("vim"),
			"usr/bin/vim":        symlinkW("/usr/bin/vim.basic"),
			"usr/bin/passwd":     {typ: tar.TypeReg, data: "P", mode: 0o4755},
			"etc/shadow":         {typ: tar.TypeReg, data: "S", mode: 0o640, gid: 42, checkOwner: true},
			"home/user/.profile": {typ: tar.TypeReg, data: "u", mode: 0o644, uid: 1000, gid: 1000, checkOwner: true},
			"locked":             {typ: tar.TypeReg, mode: 0},
			"usr/bin/ping":       {typ: tar.TypeReg, data: "p", mode: 0o755, xattr: "security.capability=" + capability},
			"tmp":                {typ: tar.TypeDir, mode: 0o1777},
		},
	}, {
		name: "names with unicode, spaces, quotes, a newline and a shell escape pass through",
		layers: [][]rt.Entry{{
			rt.File("données/ünïcödé ✓", "u"), rt.File(`with space "and" 'quotes'`, "q"),
			rt.File("x\n!touch /tmp/owned #", "n"), rt.File(`back\slash`, "b"),
		}},
		want: map[string]want{
			"données/ünïcödé ✓": file("u"), `with space "and" 'quotes'`: file("q"),
			"x\n!touch /tmp/owned #": file("n"), `back\slash`: file("b"),
		},
	}, {
		name: "device and fifo nodes are skipped and counted, with hardlinks to them",
		layers: [][]rt.Entry{
			{rt.CharDev("dev/null", 1, 3), rt.Fifo("run/fifo"), rt.Hardlink("run/fifo2", "run/fifo"), rt.File("dev/keep", "k")},
		},
		want:    map[string]want{"dev": dirW(), "dev/keep": file("k")},
		absent:  []string{"dev/null", "run/fifo", "run/fifo2"},
		skipped: 3,
	}, {
		name: "an implied directory keeps the lower header, unless a file was in between",
		layers: [][]rt.Entry{
			{rt.Dir("kept").WithMode(0o711).WithOwner(5, 5), rt.Dir("gone").WithMode(0o700)},
			{rt.File("gone", "file now")},
			{rt.File("kept/x", ""), rt.File("gone/y", "")},
		},
		want: map[string]want{
			"kept": {typ: tar.TypeDir, mode: 0o711, uid: 5, gid: 5, checkOwner: true},
			"gone": {typ: tar.TypeDir, mode: 0o755, checkOwner: true},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := make([][]byte, len(tt.layers))
			for i, l := range tt.layers {
				layers[i] = rt.MustTar(l...)
			}
			got, tree, err := flattenTree(t, layers)
			if err != nil {
				t.Fatal(err)
			}
			for p, w := range tt.want {
				g, ok := got[p]
				switch {
				case !ok:
					t.Errorf("%q missing", p)
					continue
				case g.Type != w.typ || (w.typ != tar.TypeDir && g.Data != w.data):
					t.Errorf("%q = type %q data %q, want %q %q", p, g.Type, g.Data, w.typ, w.data)
				case w.mode != 0 && g.Mode != w.mode, w.mode == 0 && w.typ == tar.TypeReg && p == "locked" && g.Mode != 0:
					t.Errorf("%q mode = %o, want %o", p, g.Mode, w.mode)
				case w.checkOwner && (g.UID != w.uid || g.GID != w.gid):
					t.Errorf("%q owner = %d:%d, want %d:%d", p, g.UID, g.GID, w.uid, w.gid)
				case w.xattr != "" && g.Xattrs != w.xattr:
					t.Errorf("%q xattrs = %q, want %q", p, g.Xattrs, w.xattr)
				case w.group != "" && g.Group != w.group:
					t.Errorf("%q shares an inode with %q, want %q", p, g.Group, w.group)
				}
			}
			for _, p := range tt.absent {
				if _, ok := got[p]; ok {
					t.Errorf("%q present, want absent", p)
				}
			}
			if tree.Skipped != tt.skipped {
				t.Errorf("skipped = %d, want %d", tree.Skipped, tt.skipped)
			}
			ref, refSkipped, err := refFlatten(layers)
			if err != nil {
				t.Fatalf("reference model: %v", err)
			}
			if d := diffTrees(got, ref); d != "" || refSkipped != tree.Skipped {
				t.Errorf("Flatten and the reference model disagree (skipped %d vs %d):\n%s", tree.Skipped, refSkipped, d)
			}
		})
	}
}

func TestFlattenRejectsHostileLayers(t *testing.T) {
	base := []rt.Entry{rt.Dir("etc"), rt.File("etc/passwd", "root"), rt.Dir("d")}
	tests := []struct {
		name  string
		top   []rt.Entry
		path  string // the member the error must name
		want  string
		isErr error
	}{
		{"traversal", []rt.Entry{rt.File("../../etc/cron.d/x", "pwn")}, "../../etc/cron.d/x", `".." component`, ErrUnsafePath},
		{"traversal in the middle", []rt.Entry{rt.File("a/../../x", "")}, "a/../../x", `".." component`, ErrUnsafePath},
		{"absolute name", []rt.Entry{rt.File("/etc/passwd", "")}, "/etc/passwd", "absolute path", ErrUnsafePath},
		{"symlink escaping the root", []rt.Entry{rt.Symlink("etc/evil", "../../../etc/shadow")}, "etc/evil", "leaves the root", ErrUnsafePath},
		{"absolute symlink escaping", []rt.Entry{rt.Symlink("evil", "/../host")}, "evil", "leaves the root", ErrUnsafePath},
		{"hardlink escaping the root", []rt.Entry{rt.Hardlink("evil", "../etc/passwd")}, "evil", `".." component`, ErrUnsafePath},
		{"hardlink to a missing file", []rt.Entry{rt.Hardlink("x", "nope")}, "x", `hardlink target "nope" not found`, nil},
		{"hardlink to a directory", []rt.Entry{rt.Hardlink("x", "etc")}, "x", `"etc" is a directory`, nil},
		{"whiteout of ..", []rt.Entry{rt.File("d/.wh...", "")}, "d/.wh...", "whiteout", ErrUnsafePath},
		{"path twice in a layer", []rt.Entry{rt.File("f", "1"), rt.File("f", "2")}, "f", "given twice", nil},
		{"whited out and present", []rt.Entry{rt.File("d/x", ""), rt.Whiteout("d")}, ".wh.d", "both whited out and present", nil},
		{"member below a file of the same layer", []rt.Entry{rt.File("f", ""), rt.File("f/x", "")}, "f/x", "non-directory", nil},
		{"name longer than ext4 allows", []rt.Entry{rt.File(strings.Repeat("n", 256), "")}, strings.Repeat("n", 256), "exceeds ext4", nil},
		{"newline name with a debugfs shell escape in a link", []rt.Entry{rt.Hardlink("x\n!touch /tmp/owned #", "missing\n!id")}, "x\n!touch /tmp/owned #", "not found", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			layers := [][]byte{rt.MustTar(base...), rt.MustTar(tt.top...)}
			_, _, err := flattenTree(t, layers)
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("want an EntryError, got %v", err)
			}
			if ee.Layer != "L1" || ee.Path != tt.path || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want layer L1, path %q and %q", err, tt.path, tt.want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Fatalf("error %v does not wrap %v", err, tt.isErr)
			}
			if _, _, rerr := refFlatten(layers); rerr == nil {
				t.Fatal("the reference model accepts what Flatten rejects")
			}
		})
	}
}

func TestFlattenReportsTheLayerOfALateHardlinkError(t *testing.T) {
	// The link is in the top layer; its target vanishes in the middle one.
	layers := [][]byte{
		rt.MustTar(rt.File("a", "x")),
		rt.MustTar(rt.Whiteout("a")),
		rt.MustTar(rt.Hardlink("b", "a")),
	}
	_, _, err := flattenTree(t, layers)
	var ee *EntryError
	if !errors.As(err, &ee) || ee.Layer != "L2" || ee.Path != "b" {
		t.Fatalf("want the error on L2's %q, got %v", "b", err)
	}
}

func TestFlattenClosesAndDrainsEveryLayer(t *testing.T) {
	data := rt.MustTar(rt.File("a", "x"))
	data = append(data, make([]byte, 4096)...) // padding after the end marker
	cr := &countingReader{data: data}
	layer := Layer{ID: "L0", Open: func() (io.ReadCloser, error) { return cr, nil }}
	if _, err := Flatten(t.Context(), []Layer{layer}, newRecorder(), FlattenOptions{TmpDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if cr.off != len(data) || cr.closed != 1 {
		t.Fatalf("read %d of %d bytes, closed %d times", cr.off, len(data), cr.closed)
	}
	bad := &countingReader{data: data, closeErr: errors.New("digest mismatch")}
	layer = Layer{ID: "L0", Open: func() (io.ReadCloser, error) { return bad, nil }}
	_, err := Flatten(t.Context(), []Layer{layer}, newRecorder(), FlattenOptions{})
	if err == nil || !strings.Contains(err.Error(), "layer L0: digest mismatch") {
		t.Fatalf("a Close error must fail the flatten, got %v", err)
	}
}

type countingReader struct {
	data     []byte
	off      int
	closed   int
	closeErr error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.off >= len(c.data) {
		return 0, io.EOF
	}
	n := copy(p, c.data[c.off:])
	c.off += n
	return n, nil
}

func (c *countingReader) Close() error { c.closed++; return c.closeErr }
