package kernelcat

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/kernelcat/kmod"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// resolveModules finds the modules providing the needed =m options (every
// VM's, and the on-demand groups') and their dependencies, checks they were
// built for this kernel, and copies them decompressed into <entry>/modules.
// It returns their paths relative to lib/modules/<release>, in load order:
// every VM's, then each group's that every VM's do not hold. A missing
// essential module is an error; a missing optional one is skipped with a
// note, and its check is marked missing.
func resolveModules(in input, k *Kernel, needed []string, groups map[string][]string, opts *Options) ([]string, map[string][]string, error) {
	essential := map[string]bool{}
	for _, c := range k.Checks {
		if c.Module != "" && c.Essential {
			essential[c.Module] = true
		}
	}
	var tree *kmod.Tree
	if in.modules != "" {
		t, err := kmod.Open(in.modules)
		if err != nil {
			return nil, nil, err
		}
		tree = t
	}
	present := func(names []string) ([]string, error) {
		var want []string
		for _, name := range names {
			var err error
			if tree == nil {
				err = fmt.Errorf("%s is a module and no lib/modules/%s was found: import the kernel package (.deb, tarball or directory with lib/modules/), or pass --modules", name, k.Version)
			} else {
				_, err = tree.Closure([]string{name})
			}
			switch {
			case err == nil:
				want = append(want, name)
			case essential[name]:
				return nil, fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
			default:
				opts.message("note: %v; continuing without it", err)
				markMissing(k, name)
			}
		}
		return want, nil
	}
	base, err := present(needed)
	if err != nil {
		return nil, nil, err
	}
	stored := map[string]bool{}
	closure := func(names []string) ([]string, error) {
		if len(names) == 0 {
			return nil, nil
		}
		order, err := tree.Closure(names)
		if err != nil {
			return nil, err
		}
		var rels []string
		for _, m := range order {
			if !stored[m.Plain()] {
				if err := storeModule(tree, m, k); err != nil {
					return nil, err
				}
				stored[m.Plain()] = true
			}
			rels = append(rels, m.Plain())
		}
		return rels, nil
	}
	rels, err := closure(base)
	if err != nil {
		return nil, nil, err
	}
	onDemand := map[string][]string{}
	for group, names := range groups {
		want, err := present(names)
		if err != nil {
			return nil, nil, err
		}
		// The group's closure after every VM's: what those load already
		// is not loaded again.
		grels, err := closure(append(slices.Clone(base), want...))
		if err != nil {
			return nil, nil, err
		}
		for _, r := range grels {
			if !slices.Contains(rels, r) {
				onDemand[group] = append(onDemand[group], r)
			}
		}
	}
	return rels, onDemand, nil
}

func markMissing(k *Kernel, module string) {
	for i := range k.Checks {
		if k.Checks[i].Module == module {
			k.Checks[i].State, k.Checks[i].Module = "missing", ""
		}
	}
}

// storeModule checks a module's vermagic against the kernel release and
// writes it, decompressed, under <entry>/modules.
func storeModule(tree *kmod.Tree, m *kmod.Module, k *Kernel) error {
	mi, err := tree.Modinfo(m)
	if err != nil {
		return fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
	}
	if vm, _, _ := strings.Cut(mi.Get("vermagic"), " "); vm != "" && vm != k.Version {
		return fmt.Errorf("%w: module %s was built for kernel %s, not %s", errdefs.ErrInvalid, m.Path, vm, k.Version)
	}
	data, err := tree.ReadFile(m)
	if err != nil {
		return err
	}
	dst := filepath.Join(k.Dir, dirModules, filepath.FromSlash(m.Plain()))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644) //nolint:gosec // modules are not secret
}
