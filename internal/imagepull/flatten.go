package imagepull

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// Layer is one layer as Flatten reads it.
type Layer struct {
	// ID names the layer in errors and progress ("sha256:…", or "tarball").
	ID string
	// Open returns the layer's uncompressed tar stream. Flatten reads it to
	// its end and closes it; a Close error (a digest or size mismatch found
	// while draining) fails the flatten.
	Open func() (io.ReadCloser, error)
}

// Sink receives the flattened tree as tar members; *tar.Writer is one.
type Sink interface {
	WriteHeader(hdr *tar.Header) error
	io.Writer
}

// Tree summarizes what Flatten wrote.
type Tree struct {
	Files, Dirs, Symlinks, Hardlinks int
	// Skipped counts paths left out because ext4 images carry no device or
	// fifo nodes (the guest's devtmpfs provides /dev).
	Skipped int
	// Bytes is the regular files' content.
	Bytes int64

	final map[string]*fnode
}

// Exists reports whether the flattened tree has path p (clean, relative to
// the root) and whether it is a directory.
func (t *Tree) Exists(p string) (exists, dir bool) {
	n := t.final[p]
	if n == nil || n.skipped {
		return false, false
	}
	return true, n.dir
}

// fnode is the decision for one path of the final tree.
type fnode struct {
	dir     bool
	skipped bool
	layer   int         // the layer that decided the path
	hdr     *tar.Header // a directory's header; nil means the default
	// pending: an upper layer implied this directory (a member below it)
	// without a header of its own, so it keeps the header of the directory
	// beneath it, if no lower layer replaced or deleted that first.
	pending bool
}

// FlattenOptions tune Flatten.
type FlattenOptions struct {
	// TmpDir holds the spool for hidden files a later hardlink may still
	// need (default os.TempDir()).
	TmpDir string
	// MaxBytes bounds the content one layer's files may hold (0: no bound).
	// The decompressed stream is bounded where it is read; this also stops
	// sparse members, which expand to their full size without a stream byte.
	MaxBytes int64
}

// Flatten merges layers (oldest first, as a manifest lists them) into one
// tree and writes it to sink, each path once, a hardlink always after the
// file it names, directories with their final headers at the end. See the
// package documentation for the order of work and why.
func Flatten(ctx context.Context, layers []Layer, sink Sink, opts FlattenOptions) (*Tree, error) {
	f := &flattener{
		ctx:      ctx,
		sink:     sink,
		maxBytes: opts.MaxBytes,
		tmpDir:   opts.TmpDir,
		final:    map[string]*fnode{},
		blocked:  map[string]int{},
		opaque:   map[string]int{},
		demands:  map[string]*inode{},
		buf:      make([]byte, 256<<10),
	}
	f.tree.final = f.final
	defer f.closeSpool()
	for j := len(layers) - 1; j >= 0; j-- {
		if err := f.layer(j, layers[j]); err != nil {
			return nil, err
		}
	}
	for _, p := range sortedKeys(f.demands) {
		d := f.demands[p]
		return nil, &EntryError{Layer: d.fromLayer, Path: d.fromPath, Err: fmt.Errorf("hardlink target %q not found", p)}
	}
	if err := f.writeDirs(); err != nil {
		return nil, err
	}
	return &f.tree, nil
}

type flattener struct {
	ctx    context.Context
	sink   Sink
	tmpDir string
	tree   Tree
	final  map[string]*fnode
	// blocked[p] = j: layer j whites out p or puts a non-directory there,
	// hiding p and everything below it in layers under j.
	blocked map[string]int
	// opaque[d] = j: layer j hides everything below d in layers under j.
	opaque map[string]int
	// demands are hardlinks of upper layers to paths of the state below the
	// layer being read, by path.
	demands  map[string]*inode
	spool    *os.File
	spoolEnd int64
	buf      []byte
	maxBytes int64
}

// layerState is what the flattener knows about the layer being read.
type layerState struct {
	j      int
	id     string
	check  *layerCheck
	inodes map[string]*inode // this layer's members so far, for its hardlinks
	next   map[string]*inode // this layer's hardlinks to the layers below
	bytes  int64             // content of the layer's files so far
}

func (f *flattener) layer(j int, l Layer) (err error) {
	rc, err := l.Open()
	if err != nil {
		return fmt.Errorf("%s: %w", layerName(l.ID), err)
	}
	defer func() {
		if cerr := rc.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("layer %s: %w", l.ID, cerr)
		}
	}()
	ls := &layerState{j: j, id: l.ID, check: newLayerCheck(), inodes: map[string]*inode{}, next: map[string]*inode{}}
	tr := tar.NewReader(rc)
	for members := 0; ; members++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return tarError(l.ID, members, err)
		}
		if err := f.ctx.Err(); err != nil {
			return err
		}
		if err := f.member(ls, hdr, tr); err != nil {
			return memberError(l.ID, hdr.Name, err)
		}
	}
	// Drain what follows the end-of-archive marker so the digest check in
	// Close sees every byte (a reader closed early must never pass).
	if _, err := io.CopyBuffer(io.Discard, rc, f.buf); err != nil {
		return fmt.Errorf("layer %s: %w", l.ID, err)
	}
	if err := f.endLayer(ls); err != nil {
		return err
	}
	if c, ok := rc.(interface{ markComplete() }); ok {
		c.markComplete()
	}
	return f.resetSpool()
}

func (f *flattener) member(ls *layerState, hdr *tar.Header, content io.Reader) error {
	e, err := parseEntry(hdr)
	if err != nil {
		return err
	}
	if err := ls.check.add(e); err != nil {
		return err
	}
	j := ls.j
	switch e.kind {
	case kindIgnore:
		return nil
	case kindWhiteout:
		if f.ancestorHidden(e.path, j) {
			return nil
		}
		f.ensureParents(e.path, j)
		if n := f.final[e.path]; n != nil && n.pending {
			n.pending, n.hdr = false, nil // the directory below is gone
		}
		f.block(e.path, j)
		return nil
	case kindOpaque:
		if e.path != "" && (f.ancestorHidden(e.path, j) || f.blocked[e.path] > j) {
			return nil
		}
		if e.path != "" && f.final[e.path] == nil {
			f.final[e.path] = &fnode{dir: true, layer: j, pending: true}
			f.ensureParents(e.path, j)
		}
		f.opaque[e.path] = max(f.opaque[e.path], j)
		return nil
	case kindDir:
		return f.dir(ls, e)
	}
	return f.nonDir(ls, e, content)
}

func (f *flattener) dir(ls *layerState, e entry) error {
	j := ls.j
	if d := f.demands[e.path]; d != nil {
		return &EntryError{Layer: d.fromLayer, Path: d.fromPath, Err: fmt.Errorf("hardlink target %q is a directory", e.path)}
	}
	ls.inodes[e.path] = &inode{kind: kindDir}
	if f.ancestorHidden(e.path, j) || f.blocked[e.path] > j {
		return nil
	}
	n := f.final[e.path]
	switch {
	case n == nil:
		f.final[e.path] = &fnode{dir: true, layer: j, hdr: e.hdr}
		f.ensureParents(e.path, j)
	case n.layer == j || n.pending:
		// The same layer again (the last header wins), or a directory an
		// upper layer implied without a header of its own.
		n.hdr, n.pending = e.hdr, false
	}
	return nil
}

func (f *flattener) nonDir(ls *layerState, e entry, content io.Reader) error {
	j := ls.j
	visible := false
	if !f.ancestorHidden(e.path, j) {
		n := f.final[e.path]
		switch {
		case f.blocked[e.path] > j:
		case n == nil:
			visible = true
			f.final[e.path] = &fnode{layer: j, skipped: e.kind == kindSkip}
			f.ensureParents(e.path, j)
		case n.pending:
			// An upper layer's implied directory replaces this file, so it
			// does not inherit the header of any directory further down.
			n.pending, n.hdr = false, nil
		}
		f.block(e.path, j)
	}

	var ino *inode
	if e.kind == kindHardlink {
		var err error
		if ino, err = f.linkTarget(ls, e); err != nil {
			return err
		}
	} else {
		ino = &inode{kind: e.kind, hdr: e.hdr}
	}
	ls.inodes[e.path] = ino
	if visible {
		ino.waitNames = append(ino.waitNames, e.path)
	}
	if d := f.demands[e.path]; d != nil {
		delete(f.demands, e.path)
		ino = f.merge(d, ino)
	}
	if e.kind == kindReg {
		if ls.bytes += e.hdr.Size; f.maxBytes > 0 && ls.bytes > f.maxBytes {
			return fmt.Errorf("%w: the layer's files hold more than %d bytes", ErrTooLarge, f.maxBytes)
		}
		if len(ino.waitNames) == 0 {
			return f.spoolContent(ino, content, e.hdr.Size)
		}
		return f.flush(ino, content)
	}
	return f.flush(ino, nil)
}

func (f *flattener) endLayer(ls *layerState) error {
	for _, p := range sortedKeys(f.demands) {
		d := f.demands[p]
		kind, _ := ls.check.state(p)
		switch {
		case ls.check.removes(p):
			return &EntryError{Layer: d.fromLayer, Path: d.fromPath, Err: fmt.Errorf("hardlink target %q not found", p)}
		case kind == seenImplicit:
			return &EntryError{Layer: d.fromLayer, Path: d.fromPath, Err: fmt.Errorf("hardlink target %q is a directory", p)}
		}
	}
	for _, p := range sortedKeys(ls.next) {
		d := ls.next[p]
		if old := f.demands[p]; old != nil {
			f.merge(old, d)
		}
		f.demands[p] = find(d)
	}
	return nil
}

// ancestorHidden reports whether a layer above j hides every member below
// one of p's ancestors.
func (f *flattener) ancestorHidden(p string, j int) bool {
	if p == "" {
		return false
	}
	hidden := f.opaque[""] > j
	if !hidden {
		ancestors(p, func(a string) bool {
			hidden = f.blocked[a] > j || f.opaque[a] > j
			return !hidden
		})
	}
	return hidden
}

// ensureParents records p's ancestors as directories implied by layer j.
func (f *flattener) ensureParents(p string, j int) {
	ancestors(p, func(a string) bool {
		if f.final[a] != nil {
			return false // its ancestors are recorded too
		}
		f.final[a] = &fnode{dir: true, layer: j, pending: true}
		return true
	})
}

func (f *flattener) block(p string, j int) { f.blocked[p] = max(f.blocked[p], j) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
