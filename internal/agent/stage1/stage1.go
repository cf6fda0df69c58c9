// Package stage1 is banger-agent as the initramfs /init, for kernels whose
// virtio drivers are modules (the Debian cloud kernel): it loads the
// modules the kernel catalog listed in /.banger/initrd.json, waits for the
// root device named by root=, mounts it, moves /dev, /proc and /sys into
// it, and switch_roots into stage 2 (init=, default /.banger/agent).
//
// The plan is a value (NewPlan) tested without root; Run executes it
// through System. On failure PID 1 prints one line, "banger-agent: stage
// 1: ...", on the console and halts, so the host sees why.
package stage1

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// ManifestPath is where the kernel catalog's initramfs describes itself.
const ManifestPath = "/.banger/initrd.json"

// NewRoot is where stage 1 mounts the root file system before switching.
const NewRoot = "/newroot"

// DefaultWait bounds the wait for the root device.
const DefaultWait = 5 * time.Second

// Manifest is /.banger/initrd.json (version 1).
type Manifest struct {
	Version       int    `json:"version"`
	KernelRelease string `json:"kernel_release"`
	// Modules are absolute paths of uncompressed .ko files, in load order.
	Modules []string `json:"modules"`
	// OnDemand are groups of modules loaded after Modules only when the
	// kernel command line names the group (banger.load=virtiofs).
	OnDemand map[string][]string `json:"on_demand,omitempty"`
}

// ParseManifest parses and checks the manifest: version 1, module paths
// absolute, clean and under /lib/modules/<kernel_release>/.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("%s: %w", ManifestPath, err)
	}
	if m.Version != 1 {
		return Manifest{}, fmt.Errorf("%s: version %d, this agent reads version 1: %w", ManifestPath, m.Version, errdefs.ErrInvalid)
	}
	if m.KernelRelease == "" || strings.ContainsAny(m.KernelRelease, "/\x00") || m.KernelRelease == ".." || m.KernelRelease == "." {
		return Manifest{}, fmt.Errorf("%s: bad kernel_release %q: %w", ManifestPath, m.KernelRelease, errdefs.ErrInvalid)
	}
	prefix := "/lib/modules/" + m.KernelRelease + "/"
	all := slices.Clone(m.Modules)
	for _, group := range m.OnDemand {
		all = append(all, group...)
	}
	for _, mod := range all {
		if path.Clean(mod) != mod || !strings.HasPrefix(mod, prefix) || !strings.HasSuffix(mod, ".ko") {
			return Manifest{}, fmt.Errorf("%s: module %q is not an uncompressed .ko under %s: %w", ManifestPath, mod, prefix, errdefs.ErrInvalid)
		}
	}
	return m, nil
}

// onDemand is the modules to load: every VM's, then those of the groups
// the command line names, each once. A group the initramfs lacks is
// built into the kernel (or absent: the step that needs it says so).
func onDemand(m Manifest, groups []string) []string {
	mods := slices.Clone(m.Modules)
	for _, g := range groups {
		for _, mod := range m.OnDemand[g] {
			if !slices.Contains(mods, mod) {
				mods = append(mods, mod)
			}
		}
	}
	return mods
}

// Plan is everything stage 1 does, in order.
type Plan struct {
	Modules []string
	// Root is the device to mount on NewRoot.
	Root   string
	FSType string
	Flags  uintptr
	Data   string
	Wait   time.Duration
	// Moves are the initramfs mounts moved under NewRoot.
	Moves []string
	// Init is what runs as PID 1 in the new root.
	Init string
}

// NewPlan builds the plan from the manifest and the kernel command line.
func NewPlan(m Manifest, c bootcfg.Cmdline) (Plan, error) {
	if c.Root == "" {
		return Plan{}, fmt.Errorf("no root= on the kernel command line: %w", errdefs.ErrInvalid)
	}
	if !strings.HasPrefix(c.Root, "/dev/") || path.Clean(c.Root) != c.Root {
		return Plan{}, fmt.Errorf("root=%s: only /dev/<device> paths are supported: %w", c.Root, errdefs.ErrUnsupported)
	}
	if !strings.HasPrefix(c.Init, "/") {
		return Plan{}, fmt.Errorf("init=%s is not an absolute path: %w", c.Init, errdefs.ErrInvalid)
	}
	p := Plan{
		Modules: onDemand(m, c.Load),
		Root:    c.Root,
		FSType:  c.RootFSType,
		Data:    c.RootFlags,
		Wait:    DefaultWait,
		Moves:   []string{"/dev", "/proc", "/sys"},
		Init:    c.Init,
	}
	if c.ReadOnly {
		p.Flags |= unix.MS_RDONLY
	}
	return p, nil
}

// System is the edge Run executes a plan through.
type System interface {
	// LoadModule loads one module file (finit_module); already loaded is
	// not an error.
	LoadModule(path string) error
	// WaitDevice waits until path exists, at most timeout.
	WaitDevice(path string, timeout time.Duration) error
	MkdirAll(path string) error
	Mount(source, target, fstype string, flags uintptr, data string) error
	// Exists reports whether path exists.
	Exists(path string) bool
	// SwitchRoot deletes the initramfs, makes newRoot "/" and execs init;
	// it returns only on failure.
	SwitchRoot(newRoot, init string) error
}

// Run executes p. It returns an error only when stage 2 could not be
// started (SwitchRoot does not return on success).
func Run(p Plan, sys System) error {
	for _, mod := range p.Modules {
		if err := sys.LoadModule(mod); err != nil {
			return fmt.Errorf("load module %s: %w", mod, err)
		}
	}
	if err := sys.WaitDevice(p.Root, p.Wait); err != nil {
		return fmt.Errorf("root device %s did not appear within %v (is its driver in the initramfs?): %w", p.Root, p.Wait, err)
	}
	if err := sys.MkdirAll(NewRoot); err != nil {
		return fmt.Errorf("mkdir %s: %w", NewRoot, err)
	}
	if err := sys.Mount(p.Root, NewRoot, p.FSType, p.Flags, p.Data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", p.Root, p.FSType, NewRoot, err)
	}
	if !sys.Exists(NewRoot + p.Init) {
		return fmt.Errorf("init %s not found on the root file system %s (was banger-agent injected into the image?): %w", p.Init, p.Root, errdefs.ErrNotFound)
	}
	for _, m := range p.Moves {
		target := NewRoot + m
		if !sys.Exists(target) {
			if err := sys.MkdirAll(target); err != nil {
				return fmt.Errorf("the root file system has no %s and it cannot be made: %w", m, err)
			}
		}
		if err := sys.Mount(m, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	err := sys.SwitchRoot(NewRoot, p.Init)
	return errors.Join(fmt.Errorf("switch_root to %s: exec %s failed", NewRoot, p.Init), err)
}
