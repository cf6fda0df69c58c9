package imagepull

import (
	"archive/tar"
	"fmt"
)

// Hardlinks across layers: a link may name a file of its own layer or of
// a lower one (a demand the lower layers meet later); every name of one
// file shares one inode, and a met demand forwards to it.

// inode is one file's content and metadata, shared by its hardlinks.
type inode struct {
	kind entryKind // kindReg, kindSymlink, kindSkip, kindDir; 0 while a demand is unresolved
	hdr  *tar.Header
	fwd  *inode // a resolved demand points at what it resolved to
	// emitted is the output path that holds the inode, once written.
	emitted string
	// spooled content of a hidden file a later hardlink may still need.
	spooled   bool
	spoolOff  int64
	waitNames []string // final paths still to be written as this inode
	// A demand: a hardlink to a path of the lower layers' state.
	want, fromLayer, fromPath string
}

func find(i *inode) *inode {
	for i.fwd != nil {
		i = i.fwd
	}
	return i
}

// linkTarget resolves a hardlink of layer ls: to a member earlier in the
// same layer, or else to the lower layers' state (a demand met later).
func (f *flattener) linkTarget(ls *layerState, e entry) (*inode, error) {
	t := e.target
	if prev, ok := ls.inodes[t]; ok {
		ino := find(prev)
		if ino.kind == kindDir {
			return nil, fmt.Errorf("hardlink target %q is a directory", t)
		}
		return ino, nil
	}
	switch kind, underNonDir := ls.check.state(t); {
	case underNonDir:
		return nil, fmt.Errorf("hardlink target %q not found", t)
	case kind == seenImplicit:
		return nil, fmt.Errorf("hardlink target %q is a directory", t)
	}
	if d := ls.next[t]; d != nil {
		return d, nil
	}
	d := &inode{want: t, fromLayer: ls.id, fromPath: e.hdr.Name}
	ls.next[t] = d
	return d, nil
}

// merge resolves demand d to ino (another inode or demand), moving d's
// waiting names over, and returns the representative.
func (f *flattener) merge(d, ino *inode) *inode {
	d, ino = find(d), find(ino)
	if d == ino {
		return ino
	}
	d.fwd = ino
	ino.waitNames = append(ino.waitNames, d.waitNames...)
	d.waitNames = nil
	return ino
}
