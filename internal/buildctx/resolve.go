package buildctx

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxHops bounds the symlinks one path may follow (Linux's MAXSYMLINKS).
const maxHops = 40

// Match is one source a COPY names: Entry is what it copies (a symlink
// named directly is followed, so Entry is its target) and Name the base
// name it gets at a directory destination.
type Match struct {
	Name  string
	Entry *Entry
	tree  *Tree
}

// Select answers what a COPY or ADD source names in the tree: a path,
// whose symlinks are followed inside the tree, or a pattern (path.Match
// per component, matches not followed). A path that leaves the tree —
// "..", or a symlink whose target is outside a build context — is
// refused, as is a source that names nothing.
func (t *Tree) Select(src string) ([]Match, error) {
	p := path.Clean("/" + src)[1:]
	if strings.HasPrefix(path.Clean(src), "../") || path.Clean(src) == ".." {
		return nil, fmt.Errorf("%s: the path is outside the build context: %w", src, errdefs.ErrInvalid)
	}
	if !strings.ContainsAny(p, "*?[") {
		e, err := t.follow(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src, err)
		}
		name := ""
		if p != "" {
			name = path.Base(p)
		}
		return []Match{{Name: name, Entry: e, tree: t}}, nil
	}
	cands := []string{""}
	for _, part := range strings.Split(p, "/") {
		var next []string
		for _, c := range cands {
			if e := t.entries[c]; e == nil || !e.Mode.IsDir() {
				continue
			}
			for _, k := range t.children(c) {
				ok, err := path.Match(part, path.Base(k.Path))
				if err != nil {
					return nil, fmt.Errorf("%s: %w (%w)", src, err, errdefs.ErrInvalid)
				}
				if ok {
					next = append(next, k.Path)
				}
			}
		}
		cands = next
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%s: no file matches the pattern: %w", src, errdefs.ErrNotFound)
	}
	sort.Strings(cands)
	out := make([]Match, 0, len(cands))
	for _, c := range cands {
		out = append(out, Match{Name: path.Base(c), Entry: t.entries[c], tree: t})
	}
	return out, nil
}

// follow resolves a clean relative path, following every symlink on the
// way inside the tree.
func (t *Tree) follow(p string) (*Entry, error) {
	parts := split(p)
	cur, hops := "", 0
	for i := 0; i < len(parts); i++ {
		next := joinPath(cur, parts[i])
		e, ok := t.entries[next]
		if !ok {
			return nil, fmt.Errorf("no such file in the %s: %w", t.what(), errdefs.ErrNotFound)
		}
		if e.Mode&fs.ModeSymlink != 0 {
			if hops++; hops > maxHops {
				return nil, fmt.Errorf("too many levels of symlinks at %s: %w", next, errdefs.ErrInvalid)
			}
			base := cur
			if path.IsAbs(e.Link) {
				if !t.rooted {
					return nil, fmt.Errorf("symlink %s -> %s points out of the build context: %w; copy the file into the context instead", next, e.Link, errdefs.ErrInvalid)
				}
				base = ""
			}
			resolved, ok := t.lexical(base, e.Link)
			if !ok {
				return nil, fmt.Errorf("symlink %s -> %s points out of the build context: %w; copy the file into the context instead", next, e.Link, errdefs.ErrInvalid)
			}
			parts, cur, i = append(split(resolved), parts[i+1:]...), "", -1
			continue
		}
		if i < len(parts)-1 && !e.Mode.IsDir() {
			return nil, fmt.Errorf("%s is not a directory: %w", next, errdefs.ErrInvalid)
		}
		cur = next
	}
	return t.entries[cur], nil
}

// lexical joins a link target to the directory it is read from; false
// when ".." climbs above a context's root (an image's root clamps it,
// as the kernel does).
func (t *Tree) lexical(dir, target string) (string, bool) {
	out := split(dir)
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
		case "..":
			if len(out) == 0 {
				if !t.rooted {
					return "", false
				}
				continue
			}
			out = out[:len(out)-1]
		default:
			out = append(out, p)
		}
	}
	return strings.Join(out, "/"), true
}

func (t *Tree) what() string {
	if t.rooted {
		return "image"
	}
	return "build context"
}

func split(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
