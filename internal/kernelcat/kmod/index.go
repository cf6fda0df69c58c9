package kmod

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxModule bounds one decompressed module (the largest are a few MiB).
const maxModule = 256 << 20

// Module is one loadable module in a tree.
type Module struct {
	// Name is the kernel's name for it ("virtio_rng" for virtio-rng.ko).
	Name string
	// Path is relative to the tree root, with its compression suffix
	// ("kernel/drivers/block/virtio_blk.ko.xz").
	Path string
}

// Plain is the module's path without a compression suffix: where the
// decompressed copy goes in an initramfs.
func (m *Module) Plain() string {
	p, _ := splitModule(m.Path)
	return p + ".ko"
}

// Tree is the module directory of one kernel release.
type Tree struct {
	root   string
	byName map[string]*Module
	// deps from modules.dep (every dependency, as names), when it exists.
	deps map[string][]string
	info map[string]Modinfo
}

// Open indexes the module tree at root (lib/modules/<release>).
func Open(root string) (*Tree, error) {
	t := &Tree{root: root, byName: map[string]*Module{}, info: map[string]Modinfo{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		base, ok := splitModule(rel)
		if !ok {
			return nil
		}
		m := &Module{Name: Normalize(path.Base(base)), Path: rel}
		if old, dup := t.byName[m.Name]; !dup || priority(rel) < priority(old.Path) {
			t.byName[m.Name] = m
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index modules in %s: %w", root, err)
	}
	if err := t.readModulesDep(); err != nil {
		return nil, err
	}
	return t, nil
}

// priority orders duplicates as depmod's default search does: updates/
// first, then the rest.
func priority(rel string) int {
	if strings.HasPrefix(rel, "updates/") {
		return 0
	}
	return 1
}

// splitModule strips ".ko" and any compression suffix; ok is false for
// files that are not modules.
func splitModule(name string) (string, bool) {
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if base, ok := strings.CutSuffix(name, ext); ok && base != "" {
			return base, true
		}
	}
	return name, false
}

// readModulesDep loads modules.dep ("kernel/a.ko: kernel/b.ko kernel/c.ko").
func (t *Tree) readModulesDep() error {
	f, err := os.Open(filepath.Join(t.root, "modules.dep"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	t.deps = map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		base, isMod := splitModule(strings.TrimSpace(mod))
		if !ok || !isMod {
			continue
		}
		var names []string
		for _, d := range strings.Fields(deps) {
			if db, ok := splitModule(d); ok {
				names = append(names, Normalize(path.Base(db)))
			}
		}
		t.deps[Normalize(path.Base(base))] = names
	}
	return sc.Err()
}

// HasModulesDep says whether dependencies come from modules.dep.
func (t *Tree) HasModulesDep() bool { return t.deps != nil }

// Len is the number of modules in the tree.
func (t *Tree) Len() int { return len(t.byName) }

// Lookup finds a module by name ('-' and '_' alike).
func (t *Tree) Lookup(name string) (*Module, bool) {
	m, ok := t.byName[Normalize(name)]
	return m, ok
}

// Modinfo reads (once) a module's .modinfo.
func (t *Tree) Modinfo(m *Module) (Modinfo, error) {
	if mi, ok := t.info[m.Name]; ok {
		return mi, nil
	}
	data, err := t.ReadFile(m)
	if err != nil {
		return nil, err
	}
	mi, err := ReadModinfo(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", m.Path, err)
	}
	t.info[m.Name] = mi
	return mi, nil
}

// Depends lists a module's direct dependencies: from modules.dep when the
// tree has one, else from the module's depends= field.
func (t *Tree) Depends(m *Module) ([]string, error) {
	if t.deps != nil {
		return t.deps[m.Name], nil
	}
	mi, err := t.Modinfo(m)
	if err != nil {
		return nil, err
	}
	return mi.Depends(), nil
}

// ReadFile returns a module's decompressed bytes.
func (t *Tree) ReadFile(m *Module) ([]byte, error) {
	f, err := os.Open(filepath.Join(t.root, filepath.FromSlash(m.Path)))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	codec := compress.ByExtension(path.Ext(m.Path))
	r, err := compress.NewReader(codec, f)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", m.Path, err)
	}
	defer func() { _ = r.Close() }()
	data, err := io.ReadAll(io.LimitReader(r, maxModule+1))
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", m.Path, err)
	}
	if len(data) > maxModule {
		return nil, fmt.Errorf("module %s decompresses to more than %d bytes", m.Path, maxModule)
	}
	return data, nil
}

// Closure returns the named modules and everything they depend on, each
// module after all of its dependencies (the order to load them in), with
// ties kept in request order. Soft "pre:" dependencies are included when
// the tree has them, as modprobe does. An unknown name or a dependency
// cycle is an error naming the chain.
func (t *Tree) Closure(names []string) ([]*Module, error) {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var order []*Module
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = Normalize(name)
		chain = append(slices.Clip(chain), name)
		switch state[name] {
		case done:
			return nil
		case visiting:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(chain, " -> "))
		}
		m, ok := t.byName[name]
		if !ok {
			return fmt.Errorf("module %s is not among the kernel's %d modules (needed as %s): %w", name, len(t.byName), strings.Join(chain, " -> "), errdefs.ErrNotFound)
		}
		state[name] = visiting
		deps, err := t.Depends(m)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, chain); err != nil {
				return err
			}
		}
		mi, err := t.Modinfo(m)
		if err != nil {
			return err
		}
		for _, d := range mi.SoftPre() {
			if _, ok := t.byName[d]; ok && state[d] != visiting {
				if err := visit(d, chain); err != nil {
					return err
				}
			}
		}
		state[name] = done
		order = append(order, m)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}
