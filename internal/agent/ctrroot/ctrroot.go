// Package ctrroot gives a container of a pod VM (one VM, several
// containers, as Kata runs pods) a root of its own inside the guest: the
// container image's tree, which the host shares read-only (a directory of
// the pod's virtio-fs share), under an overlay whose writable layer is a
// tmpfs, with the guest's /proc, /sys and /dev and the pod's resolv.conf,
// hosts and hostname. A process then runs chrooted in it
// (process.Spec.Chroot), its user resolved in the container's /etc/passwd.
//
// What is mounted is a value (Plan: directories, files, mount(2) calls in
// order), run through a small System edge; Remove undoes it with one lazy
// unmount of the container's directory, whatever the plan got to.
package ctrroot

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/mounts"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Dir holds every container's directory: Dir/<id> is a tmpfs with the
// overlay's upper and work directories and the root (rootfs).
const Dir = "/run/banger/containers"

// PodFiles are the guest's files every container of the pod shares
// (bind-mounted read-only over the container's own when the guest has
// them), as CRI does from the pod's sandbox.
var PodFiles = []string{"/etc/resolv.conf", "/etc/hosts", "/etc/hostname"}

// idRE is what a container id may be: containerd's ids (64 hex digits
// from CRI) and banger's names; never a path.
var idRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`) })

// Spec is one container's root.
type Spec struct {
	// ID names the container (its directory under Dir).
	ID string
	// Lower is the guest path of the image's tree, read-only.
	Lower string
}

// Check validates s: an id that is a name, an absolute, clean lower
// that overlay's options cannot misread.
func (s Spec) Check() error {
	if err := checkID(s.ID); err != nil {
		return err
	}
	// ',' ':' and '\\' are overlay's option syntax: a lower with one
	// would add options (another upperdir) or lower layers.
	if !path.IsAbs(s.Lower) || path.Clean(s.Lower) != s.Lower || strings.ContainsAny(s.Lower, ",:\\") {
		return fmt.Errorf("container %s: image tree %q: want an absolute, clean path without ',', ':' or '\\': %w", s.ID, s.Lower, errdefs.ErrInvalid)
	}
	return nil
}

// Base is the container's directory (a tmpfs).
func Base(id string) string { return path.Join(Dir, id) }

// Root is the container's root, the directory its processes chroot to.
func Root(id string) string { return path.Join(Base(id), "rootfs") }

// RootOf is Root for an id from a request, checked first: an id that is
// not a name (say "../..") would name another directory.
func RootOf(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return Root(id), nil
}

// checkID refuses an id that is not a name (so never a path).
func checkID(id string) error {
	if !idRE().MatchString(id) {
		return fmt.Errorf("container id %q: want letters, digits, '_', '.', '-' (at most 128): %w", id, errdefs.ErrInvalid)
	}
	return nil
}

// Step is one step of a Plan: exactly one of its fields is set.
type Step struct {
	// Mkdir makes a directory (and its parents).
	Mkdir string
	// Touch makes an empty file when none exists (a bind mount's target).
	Touch string
	// Mount is one mount(2) call.
	Mount *mounts.Call
	// IfExists makes the step run only when that guest path exists.
	IfExists string
}

// Plan is what makes s's root, in order.
func Plan(s Spec) []Step {
	base, root := Base(s.ID), Root(s.ID)
	upper, work := path.Join(base, "upper"), path.Join(base, "work")
	mount := func(c mounts.Call) Step { return Step{Mount: &c} }
	steps := []Step{
		{Mkdir: base},
		mount(mounts.Call{Source: "tmpfs", Target: base, FSType: "tmpfs", Flags: unix.MS_NODEV, Data: "mode=0700"}),
		{Mkdir: upper}, {Mkdir: work}, {Mkdir: root},
		mount(mounts.Call{Source: "overlay", Target: root, FSType: "overlay",
			Data: "lowerdir=" + s.Lower + ",upperdir=" + upper + ",workdir=" + work}),
		{Mkdir: path.Join(root, "proc")},
		mount(mounts.Call{Source: "proc", Target: path.Join(root, "proc"), FSType: "proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}),
		{Mkdir: path.Join(root, "sys")},
		mount(mounts.Call{Source: "/sys", Target: path.Join(root, "sys"), Flags: unix.MS_BIND | unix.MS_REC}),
		{Mkdir: path.Join(root, "dev")},
		mount(mounts.Call{Source: "/dev", Target: path.Join(root, "dev"), Flags: unix.MS_BIND | unix.MS_REC}),
	}
	for _, f := range PodFiles {
		t := path.Join(root, f)
		steps = append(steps,
			Step{Mkdir: path.Dir(t), IfExists: f},
			Step{Touch: t, IfExists: f},
			mount(mounts.Call{Source: f, Target: t, Flags: unix.MS_BIND}).when(f),
			mount(mounts.Call{Source: f, Target: t, Flags: unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY}).when(f),
		)
	}
	return steps
}

func (s Step) when(p string) Step { s.IfExists = p; return s }

// System is the edge Make and Remove work through.
type System interface {
	Exists(path string) bool
	MkdirAll(path string) error
	Touch(path string) error
	Mount(c mounts.Call) error
	// Detach lazily unmounts target and everything under it; a target
	// that is not a mount point is not an error.
	Detach(target string) error
	RemoveAll(path string) error
}

// ErrExists is Make's error for a container whose root is already made.
var ErrExists = errors.New("container root exists")

// Make runs s's Plan through sys. A root that exists already is a
// conflict (a container id is used once); a step that fails removes what
// the others made and returns the error, naming the step.
func Make(s Spec, sys System) error {
	if err := s.Check(); err != nil {
		return err
	}
	if sys.Exists(Base(s.ID)) {
		return fmt.Errorf("container %s: %w: %w", s.ID, ErrExists, errdefs.ErrConflict)
	}
	// Through "/.": a lower that is a submount virtio-fs announced is
	// mounted (automount) only when a lookup walks into it, and the
	// overlay's own lookup of lowerdir does not, failing with EINVAL.
	if !sys.Exists(s.Lower + "/.") {
		return fmt.Errorf("container %s: image tree %s: %w", s.ID, s.Lower, errdefs.ErrNotFound)
	}
	for _, st := range Plan(s) {
		if st.IfExists != "" && !sys.Exists(st.IfExists) {
			continue
		}
		var err error
		var what string
		switch {
		case st.Mkdir != "":
			what, err = "make "+st.Mkdir, sys.MkdirAll(st.Mkdir)
		case st.Touch != "":
			what, err = "make "+st.Touch, sys.Touch(st.Touch)
		case st.Mount != nil:
			what, err = fmt.Sprintf("mount %s on %s", st.Mount.Source, st.Mount.Target), sys.Mount(*st.Mount)
		}
		if err != nil {
			_ = Remove(s.ID, sys)
			return fmt.Errorf("container %s: %s: %w", s.ID, what, err)
		}
	}
	return nil
}

// Remove unmounts the container's root (every mount under its directory,
// lazily: a process still in it keeps its view until it ends) and removes
// the directory. An absent container is not an error.
func Remove(id string, sys System) error {
	if err := checkID(id); err != nil {
		return err
	}
	base := Base(id)
	if !sys.Exists(base) {
		return nil
	}
	if err := sys.Detach(base); err != nil {
		return fmt.Errorf("container %s: unmount %s: %w", id, base, err)
	}
	if err := sys.RemoveAll(base); err != nil {
		return fmt.Errorf("container %s: remove %s: %w", id, base, err)
	}
	return nil
}

// Linux is the guest's System.
type Linux struct{}

var _ System = Linux{}

// Exists reports whether the path exists.
func (Linux) Exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// MkdirAll makes a directory and its parents (0755).
func (Linux) MkdirAll(p string) error { return os.MkdirAll(p, 0o755) }

// Touch makes an empty file unless one exists.
func (Linux) Touch(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644) //nolint:gosec // a bind mount's target in the container's root
	if err != nil {
		return err
	}
	return f.Close()
}

// Mount makes the call.
func (Linux) Mount(c mounts.Call) error {
	return unix.Mount(c.Source, c.Target, c.FSType, c.Flags, c.Data)
}

// Detach lazily unmounts target with everything under it.
func (Linux) Detach(target string) error {
	err := unix.Unmount(target, unix.MNT_DETACH)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // not a mount point (a Make that failed early), or gone
	}
	return err
}

// RemoveAll removes the path.
func (Linux) RemoveAll(p string) error { return os.RemoveAll(p) }
