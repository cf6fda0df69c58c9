package layerdiff

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/guestpaths"
)

// kind is what a change writes.
type kind int

const (
	kindAdd      kind = iota // upper's entry, new or of another type than lower's
	kindChange               // upper's entry, of the same type as lower's
	kindWhiteout             // .wh.NAME: lower's entry is gone
	kindOpaque               // DIR/.wh..wh..opq: every lower entry below DIR is gone
	kindLink                 // unchanged, but another link of its inode changed
)

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// change is one path of the layer, relative to the root ("etc/passwd").
type change struct {
	rel  string
	kind kind
}

// inode identifies an upper inode, for its hardlinks.
type inode struct{ dev, ino uint64 }

type differ struct {
	ctx          context.Context
	lower, upper string
	exclude      []string
	files        map[string]bool // left out, but not what is below them
	changes      []change
	// links are upper's regular files with more than one link: every
	// path of each, in walk order.
	links map[inode][]string
	st    Stats
}

// dir compares directory rel, present in both trees as a directory.
func (d *differ) dir(rel string) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	lnames, err := readNames(filepath.Join(d.lower, rel))
	if err != nil {
		return err
	}
	unames, err := readNames(filepath.Join(d.upper, rel))
	if err != nil {
		return err
	}
	start := len(d.changes)
	shared, deleted, owned := 0, 0, false
	for i, j := 0, 0; i < len(lnames) || j < len(unames); {
		var err error
		switch {
		case j == len(unames) || (i < len(lnames) && lnames[i] < unames[j]):
			p := join(rel, lnames[i])
			i++
			if d.excluded(p) {
				owned = true
				continue
			}
			d.changes = append(d.changes, change{p, kindWhiteout})
			deleted++
		case i == len(lnames) || unames[j] < lnames[i]:
			p := join(rel, unames[j])
			j++
			err = d.added(p)
		default:
			p := join(rel, lnames[i])
			i, j = i+1, j+1
			if d.excluded(p) {
				owned = true
				continue
			}
			shared++
			err = d.both(p)
		}
		if err != nil {
			return err
		}
	}
	// Every lower entry gone: one opaque marker says it, and does not grow
	// with the directory. Not when banger's own files were there: the
	// marker would hide them too.
	if rel != "" && shared == 0 && deleted > 1 && !owned {
		kept := d.changes[:start]
		for _, c := range d.changes[start:] {
			if c.kind != kindWhiteout {
				kept = append(kept, c)
			}
		}
		d.changes = append(kept, change{rel, kindOpaque})
		deleted = 1
	}
	d.st.Deleted += deleted
	return nil
}

// added records p, which upper has and lower has not or not with its
// type, with everything below it.
func (d *differ) added(p string) error {
	if d.excluded(p) {
		return nil
	}
	if err := refuseWhiteoutName(p); err != nil {
		return err
	}
	st, err := d.lstat(d.upper, p)
	if err != nil {
		return err
	}
	if !d.carried(p, &st) {
		return nil
	}
	d.changes = append(d.changes, change{p, kindAdd})
	d.st.Added++
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil
	}
	if err := d.ctx.Err(); err != nil {
		return err
	}
	names, err := readNames(filepath.Join(d.upper, p))
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := d.added(join(p, n)); err != nil {
			return err
		}
	}
	return nil
}

// both compares p, which both trees have.
func (d *differ) both(p string) error {
	ust, err := d.lstat(d.upper, p)
	if err != nil {
		return err
	}
	lst, err := d.lstat(d.lower, p)
	if err != nil {
		return err
	}
	if lst.Mode&unix.S_IFMT != ust.Mode&unix.S_IFMT {
		return d.added(p) // lower's is replaced, and below it nothing of lower's stays
	}
	if !d.carried(p, &ust) {
		return nil
	}
	changed, err := d.changed(p, &lst, &ust)
	if err != nil {
		return err
	}
	if changed {
		d.changes = append(d.changes, change{p, kindChange})
		d.st.Changed++
	}
	if ust.Mode&unix.S_IFMT == unix.S_IFDIR {
		return d.dir(p)
	}
	return nil
}

// carried checks upper's p can be in a layer, and records its links.
func (d *differ) carried(p string, st *unix.Stat_t) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		d.st.Skipped++
		return false
	case unix.S_IFREG:
		if st.Nlink > 1 {
			k := inode{uint64(st.Dev), st.Ino} //nolint:unconvert // Dev's type differs by architecture
			d.links[k] = append(d.links[k], p)
		}
	}
	return true
}

func (d *differ) excluded(p string) bool {
	return d.files["/"+p] && !isDir(d.lower, p) && !isDir(d.upper, p) || guestpaths.Under("/"+p, d.exclude)
}

// isDir says whether p is a directory in the tree at root (a link target
// left out as a file must not hide one).
func isDir(root, p string) bool {
	fi, err := os.Lstat(filepath.Join(root, p))
	return err == nil && fi.IsDir()
}

func (d *differ) lstat(root, p string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(root, p), &st); err != nil {
		return st, fmt.Errorf("layer diff: /%s: %w", p, err)
	}
	return st, nil
}

// readNames lists a directory's names, sorted (names that would read
// as whiteouts are refused where they are added: refuseWhiteoutName).
func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("layer diff: %w", err)
	}
	defer func() { _ = f.Close() }()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("layer diff: %s: %w", dir, err)
	}
	slices.Sort(names)
	return names, nil
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// refuseWhiteoutName reports a name that would read as a whiteout.
func refuseWhiteoutName(p string) error {
	if strings.HasPrefix(filepath.Base(p), whiteoutPrefix) {
		return fmt.Errorf("layer diff: /%s: a name starting with %q cannot be carried by a layer (it would read as a deletion)", p, whiteoutPrefix)
	}
	return nil
}
