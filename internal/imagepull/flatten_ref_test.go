package imagepull

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
)

// This file holds the reference model Flatten is checked against: the
// layers applied oldest first to an in-memory tree, the obvious way, with
// the same per-layer rules (entry.go). Flatten reads layers newest first
// and streams; the two must agree on every input (FuzzFlatten).

type rino struct {
	kind entryKind
	hdr  *tar.Header
	data string
}

type rnode struct {
	dir   bool
	hdr   *tar.Header // directory header; nil = default
	ino   *rino
	layer int
}

type refModel struct {
	state map[string]*rnode
}

// fuzzMaxBytes bounds a test layer's content, as image.max_layer_bytes does.
const fuzzMaxBytes = 1 << 20

func refFlatten(layers [][]byte) (map[string]outNode, int, error) {
	m := &refModel{state: map[string]*rnode{}}
	for j, l := range layers {
		if err := m.layer(j, l); err != nil {
			return nil, 0, err
		}
	}
	return m.output()
}

func (m *refModel) layer(j int, data []byte) error {
	check := newLayerCheck()
	touched := map[string]bool{}
	var size int64
	var whiteouts, opaques []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		e, err := parseEntry(hdr)
		if err != nil {
			return err
		}
		if err := check.add(e); err != nil {
			return err
		}
		switch e.kind {
		case kindIgnore:
			continue
		case kindWhiteout:
			m.ensureParents(e.path, j, touched)
			whiteouts = append(whiteouts, e.path)
		case kindOpaque:
			m.ensureParents(e.path, j, touched)
			if e.path != "" {
				m.ensureDir(e.path, j, touched)
			}
			opaques = append(opaques, e.path)
		case kindDir:
			m.ensureParents(e.path, j, touched)
			if n := m.state[e.path]; n != nil && n.dir {
				n.hdr, n.layer = hdr, j
			} else {
				m.remove(e.path)
				m.state[e.path] = &rnode{dir: true, hdr: hdr, layer: j}
			}
			touched[e.path] = true
		default:
			// Parents first: a member makes its ancestors directories before
			// its own link is resolved (so a link to its own parent fails).
			m.ensureParents(e.path, j, touched)
			var ino *rino
			if e.kind == kindHardlink {
				t := m.state[e.target]
				switch {
				case t == nil:
					return fmt.Errorf("hardlink target %q not found", e.target)
				case t.dir:
					return fmt.Errorf("hardlink target %q is a directory", e.target)
				}
				ino = t.ino
			} else {
				ino = &rino{kind: e.kind, hdr: hdr}
				switch e.kind {
				case kindReg:
					if size += hdr.Size; size > fuzzMaxBytes {
						return ErrTooLarge
					}
					b, err := io.ReadAll(tr)
					if err != nil {
						return err
					}
					ino.data = string(b)
				case kindSymlink:
					ino.data = hdr.Linkname
				}
			}
			m.remove(e.path)
			m.state[e.path] = &rnode{ino: ino, layer: j}
			touched[e.path] = true
		}
	}
	for _, w := range whiteouts {
		m.remove(w)
	}
	for _, d := range opaques {
		for p, n := range m.state {
			if !under(p, d) {
				continue
			}
			switch {
			case !touched[p]:
				delete(m.state, p)
			case n.dir && n.layer < j:
				n.hdr = nil // only implied by this layer: the lower header is hidden
			}
		}
	}
	return nil
}

// ensureParents makes p's ancestors directories, replacing non-directories
// (as extracting a layer over the tree below would).
func (m *refModel) ensureParents(p string, j int, touched map[string]bool) {
	var as []string
	ancestors(p, func(a string) bool { as = append(as, a); return true })
	slices.Reverse(as)
	for _, a := range as {
		m.ensureDir(a, j, touched)
	}
}

func (m *refModel) ensureDir(a string, j int, touched map[string]bool) {
	touched[a] = true
	if n := m.state[a]; n != nil && n.dir {
		return
	}
	m.remove(a)
	m.state[a] = &rnode{dir: true, layer: j}
}

func (m *refModel) remove(p string) {
	for q := range m.state {
		if q == p || under(q, p) {
			delete(m.state, q)
		}
	}
}

// under reports whether q is strictly below directory d.
func under(q, d string) bool {
	if d == "" {
		return q != ""
	}
	return strings.HasPrefix(q, d+"/")
}

func (m *refModel) output() (map[string]outNode, int, error) {
	out := map[string]outNode{}
	group := map[*rino]string{}
	skipped := 0
	for _, p := range sortedKeys(m.state) {
		n := m.state[p]
		if n.dir {
			h := n.hdr
			if h == nil {
				h = defaultDirHeader
			}
			out[p] = nodeOf(tar.TypeDir, h, "", "")
			continue
		}
		if n.ino.kind == kindSkip {
			skipped++
			continue
		}
		if _, ok := group[n.ino]; !ok {
			group[n.ino] = p
		}
		typ := byte(tar.TypeReg)
		if n.ino.kind == kindSymlink {
			typ = tar.TypeSymlink
		}
		out[p] = nodeOf(typ, n.ino.hdr, n.ino.data, group[n.ino])
	}
	if _, ok := out[""]; !ok {
		out[""] = nodeOf(tar.TypeDir, defaultDirHeader, "", "")
	}
	return out, skipped, nil
}

// outNode is one path of a flattened tree in comparable form.
type outNode struct {
	Type     byte
	Mode     int64
	UID, GID int
	MTime    int64
	Xattrs   string
	Data     string // content or symlink target
	Group    string // the first path of its inode (hardlinks share it)
}

func nodeOf(typ byte, h *tar.Header, data, group string) outNode {
	var xs []string
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, xattrPAXPrefix) {
			xs = append(xs, k[len(xattrPAXPrefix):]+"="+v)
		}
	}
	slices.Sort(xs)
	return outNode{Type: typ, Mode: h.Mode, UID: h.Uid, GID: h.Gid, MTime: h.ModTime.UnixNano(),
		Xattrs: strings.Join(xs, ","), Data: data, Group: group}
}

// recorder is a Sink that rebuilds the tree Flatten writes and enforces
// what the ext4 writer needs: each path once, a hardlink after the file it
// names, and no member below a non-directory.
type recorder struct {
	nodes map[string]*outNode
	order []string
	cur   *outNode
	buf   strings.Builder
	err   error
}

func newRecorder() *recorder { return &recorder{nodes: map[string]*outNode{}} }

func (r *recorder) fail(format string, args ...any) error {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	return r.err
}

func (r *recorder) WriteHeader(h *tar.Header) error {
	r.finish()
	p, err := cleanPath(h.Name)
	if err != nil {
		return r.fail("bad name %q: %v", h.Name, err)
	}
	var bad string
	ancestors(p, func(a string) bool {
		if n := r.nodes[a]; n != nil && n.Type != tar.TypeDir {
			bad = a
		}
		return bad == ""
	})
	if bad != "" {
		return r.fail("%q written below non-directory %q", p, bad)
	}
	prev := r.nodes[p]
	switch h.Typeflag {
	case tar.TypeDir:
		if prev != nil {
			return r.fail("directory %q written twice", p)
		}
		n := nodeOf(tar.TypeDir, h, "", "")
		r.nodes[p] = &n
	case tar.TypeLink:
		t := r.nodes[h.Linkname]
		switch {
		case prev != nil:
			return r.fail("%q written twice", p)
		case t == nil || t.Type == tar.TypeDir:
			return r.fail("hardlink %q to %q, which is not an earlier file", p, h.Linkname)
		}
		n := *t
		r.nodes[p] = &n
	case tar.TypeReg, tar.TypeSymlink:
		if prev != nil {
			return r.fail("%q written twice", p)
		}
		n := nodeOf(h.Typeflag, h, h.Linkname, p)
		r.nodes[p] = &n
		if h.Typeflag == tar.TypeReg {
			r.cur = &n
			r.nodes[p] = r.cur
		}
	default:
		return r.fail("unexpected member type %q for %q", h.Typeflag, p)
	}
	r.order = append(r.order, p)
	return nil
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.cur == nil {
		return 0, r.fail("content outside a regular file")
	}
	r.buf.Write(b)
	return len(b), nil
}

func (r *recorder) finish() {
	if r.cur != nil {
		r.cur.Data = r.buf.String()
		r.buf.Reset()
		r.cur = nil
	}
}

// tree returns the recorded tree in the reference model's form; hardlink
// groups are named by their first path, as the model names them.
func (r *recorder) tree() map[string]outNode {
	r.finish()
	first := map[string]string{}
	for _, p := range sortedKeys(r.nodes) {
		g := r.nodes[p].Group
		if _, ok := first[g]; !ok && g != "" {
			first[g] = p
		}
	}
	out := map[string]outNode{}
	for p, n := range r.nodes {
		c := *n
		if c.Group != "" {
			c.Group = first[c.Group]
		}
		out[p] = c
	}
	if _, ok := out[""]; !ok {
		out[""] = nodeOf(tar.TypeDir, defaultDirHeader, "", "")
	}
	return out
}

func bytesLayers(layers [][]byte) []Layer {
	out := make([]Layer, len(layers))
	for i, b := range layers {
		out[i] = Layer{ID: fmt.Sprintf("L%d", i), Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}}
	}
	return out
}

// flattenTree runs Flatten into a recorder.
func flattenTree(t testing.TB, layers [][]byte) (map[string]outNode, *Tree, error) {
	t.Helper()
	rec := newRecorder()
	tree, err := Flatten(t.Context(), bytesLayers(layers), rec, FlattenOptions{TmpDir: t.TempDir(), MaxBytes: fuzzMaxBytes})
	if rec.err != nil {
		t.Fatalf("Flatten broke the sink's contract: %v (order %q)", rec.err, rec.order)
	}
	if err != nil {
		return nil, nil, err
	}
	return rec.tree(), tree, nil
}

// diffTrees describes how got differs from want, or returns "".
func diffTrees(got, want map[string]outNode) string {
	var b strings.Builder
	keys := slices.Sorted(maps.Keys(got))
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := got[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			fmt.Fprintf(&b, "missing %q: want %+v\n", k, w)
		case !wok:
			fmt.Fprintf(&b, "extra %q: %+v\n", k, g)
		case g != w:
			fmt.Fprintf(&b, "%q:\n  got  %+v\n  want %+v\n", k, g, w)
		}
	}
	return b.String()
}
