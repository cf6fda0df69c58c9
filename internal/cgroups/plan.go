package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Limits are one group's limits.
type Limits struct {
	// MemoryBytes caps the group's memory (guest RAM, the VMM's own
	// allocations, page cache it dirties).
	MemoryBytes int64
	// Pids caps its tasks (threads count).
	Pids int64
}

// Write is one value written into a cgroup file.
type Write struct{ Path, Value string }

func (w Write) String() string { return fmt.Sprintf("echo %q > %s", w.Value, w.Path) }

// Plan is what Apply does for one group, in order.
type Plan struct {
	Version int
	// Parents are made when missing and never removed: every VM's group
	// shares them.
	Parents []string
	// Enable makes the controllers available to the children of each
	// ancestor, root first (cgroup v2's subtree_control; none on v1).
	// Writing a controller that is already enabled changes nothing.
	Enable []Write
	// Groups are the group's own directories, one per hierarchy: Apply
	// makes them, Remove removes them.
	Groups []string
	// Limits are written once the groups exist.
	Limits []Write
	// Dirs maps each controller to the directory holding its files.
	Dirs map[string]string
}

// PlanFor plans the group name under parent (a path relative to each
// hierarchy's mount, e.g. "banger.slice") with the limits l.
func PlanFor(h Host, parent, name string, l Limits) (Plan, error) {
	if err := checkRel(parent); err != nil {
		return Plan{}, fmt.Errorf("cgroup parent %q: %w", parent, err)
	}
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return Plan{}, fmt.Errorf("cgroup name %q: %w: want one path element", name, errdefs.ErrInvalid)
	}
	if l.MemoryBytes <= 0 || l.Pids <= 0 {
		return Plan{}, fmt.Errorf("cgroup %s limits %+v: %w: want positive memory and pids", name, l, errdefs.ErrInvalid)
	}
	mem, pids := strconv.FormatInt(l.MemoryBytes, 10), strconv.FormatInt(l.Pids, 10)
	p := Plan{Version: h.Version, Dirs: map[string]string{}}
	switch h.Version {
	case 2:
		dir := filepath.Join(h.Unified, parent)
		p.Parents = []string{dir}
		enable := "+" + strings.Join(Controllers, " +")
		at := h.Unified
		p.Enable = append(p.Enable, Write{filepath.Join(at, "cgroup.subtree_control"), enable})
		for _, elem := range strings.Split(parent, "/") {
			at = filepath.Join(at, elem)
			p.Enable = append(p.Enable, Write{filepath.Join(at, "cgroup.subtree_control"), enable})
		}
		group := filepath.Join(dir, name)
		p.Groups = []string{group}
		p.Limits = []Write{{filepath.Join(group, "memory.max"), mem}, {filepath.Join(group, "pids.max"), pids}}
		for _, c := range Controllers {
			p.Dirs[c] = group
		}
	case 1:
		for _, c := range Controllers {
			dir := filepath.Join(h.V1[c], parent)
			group := filepath.Join(dir, name)
			p.Parents = append(p.Parents, dir)
			p.Groups = append(p.Groups, group)
			p.Dirs[c] = group
		}
		p.Limits = []Write{
			{filepath.Join(p.Dirs["memory"], "memory.limit_in_bytes"), mem},
			{filepath.Join(p.Dirs["pids"], "pids.max"), pids},
		}
	default:
		return Plan{}, fmt.Errorf("%w: %s", errdefs.ErrUnavailable, h.Why)
	}
	return p, nil
}

// ParentDirs are parent's directories, one per hierarchy (one on cgroup
// v2, one per controller on v1): where PlanFor puts its groups, and where
// Children finds them.
func ParentDirs(h Host, parent string) ([]string, error) {
	if err := checkRel(parent); err != nil {
		return nil, fmt.Errorf("cgroup parent %q: %w", parent, err)
	}
	switch h.Version {
	case 2:
		return []string{filepath.Join(h.Unified, parent)}, nil
	case 1:
		var dirs []string
		for _, c := range Controllers {
			dirs = append(dirs, filepath.Join(h.V1[c], parent))
		}
		return dirs, nil
	default:
		return nil, fmt.Errorf("%w: %s", errdefs.ErrUnavailable, h.Why)
	}
}

// checkRel accepts a clean relative path without "..".
func checkRel(p string) error {
	if p == "" || filepath.IsAbs(p) || filepath.Clean(p) != p || p == "." {
		return fmt.Errorf("%w: want a clean relative path such as banger.slice", errdefs.ErrInvalid)
	}
	for _, e := range strings.Split(p, "/") {
		if e == ".." {
			return fmt.Errorf("%w: .. is not allowed", errdefs.ErrInvalid)
		}
	}
	return nil
}
