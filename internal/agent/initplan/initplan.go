// Package initplan is the list of file systems and /dev links PID 1 sets up
// in the guest (/proc, /sys, /dev, /dev/pts, /dev/shm, /run, the cgroup2
// hierarchy; /tmp stays on the VM's disk as it does in a container),
// built as a plain value from what is mounted already, and applied at a
// thin edge (Apply) behind a three-method interface so the plan is tested
// without root.
package initplan

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/procfs"
)

// Mount is one mount(2) call; Mode is the mode of Target when it must be
// created.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	Mode                   os.FileMode
	// Optional mounts may fail (an old kernel without cgroup2) without
	// making the boot an error.
	Optional bool
}

// Symlink is a link PID 1 creates when its path does not exist.
type Symlink struct{ Target, Path string }

// Dir is a directory PID 1 makes when it does not exist.
type Dir struct {
	Path string
	Mode os.FileMode
}

// Plan is what to do, in order: mounts, then directories, then links.
type Plan struct {
	Mounts   []Mount
	Dirs     []Dir
	Symlinks []Symlink
}

const (
	nosuidNodev       = unix.MS_NOSUID | unix.MS_NODEV
	nosuidNodevNoexec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// apiMounts is every file system the guest gets, parents first.
var apiMounts = []Mount{
	{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuidNodevNoexec, Mode: 0o555},
	{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nosuidNodevNoexec, Mode: 0o555},
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755", Mode: 0o755},
	{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666", Mode: 0o755},
	{Source: "shm", Target: "/dev/shm", FSType: "tmpfs", Flags: nosuidNodev, Data: "mode=1777", Mode: os.ModeSticky | 0o777},
	{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: nosuidNodev, Data: "mode=0755", Mode: 0o755},
	{Source: "cgroup2", Target: "/sys/fs/cgroup", FSType: "cgroup2", Flags: nosuidNodevNoexec, Mode: 0o555, Optional: true},
}

// devLinks are the /dev links udev or a container runtime would make.
var devLinks = []Symlink{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"/proc/kcore", "/dev/core"},
}

// Stage2 returns the plan for PID 1 given the mount points that exist
// already (stage 1 moved /dev, /proc and /sys; a kernel may mount
// devtmpfs itself): only what is missing is mounted.
func Stage2(mounted map[string]bool) Plan {
	var p Plan
	for _, m := range apiMounts {
		if !mounted[m.Target] {
			p.Mounts = append(p.Mounts, m)
		}
	}
	// /tmp is the image's own directory on the VM's disk, as in a
	// container; an image without one gets it.
	p.Dirs = append(p.Dirs, Dir{Path: "/tmp", Mode: os.ModeSticky | 0o777})
	p.Symlinks = append(p.Symlinks, devLinks...)
	return p
}

// Tmpfs returns the mounts of the tmpfs a VM asked for (`--tmpfs PATH`),
// each with its mount options ("size=64m").
func Tmpfs(ts []bootcfg.Tmpfs) Plan {
	var p Plan
	for _, t := range ts {
		p.Mounts = append(p.Mounts, Mount{Source: "tmpfs", Target: t.Path, FSType: "tmpfs", Flags: nosuidNodev, Data: t.Options, Mode: 0o755})
	}
	return p
}

// Initramfs returns the mounts stage 1 needs in the initramfs to load
// modules and find the root device: /dev, /proc and /sys.
func Initramfs() Plan {
	return Plan{Mounts: []Mount{apiMounts[0], apiMounts[1], apiMounts[2]}}
}

// Mounter is the edge Apply executes a plan through.
type Mounter interface {
	Mount(source, target, fstype string, flags uintptr, data string) error
	MkdirAll(path string, mode os.FileMode) error
	Symlink(target, path string) error
}

// Apply executes p: each target is created when missing, then mounted;
// links are made where nothing exists. It goes on after an error (a PID 1
// with half its mounts is more debuggable than one that stopped) and
// returns every error but those of optional mounts and existing links.
func Apply(p Plan, m Mounter) error {
	var errs []error
	for _, mt := range p.Mounts {
		if err := m.MkdirAll(mt.Target, mt.Mode); err != nil && !mt.Optional {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", mt.Target, err))
			continue
		}
		if err := m.Mount(mt.Source, mt.Target, mt.FSType, mt.Flags, mt.Data); err != nil && !mt.Optional {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", mt.FSType, mt.Target, err))
		}
	}
	for _, d := range p.Dirs {
		if err := m.MkdirAll(d.Path, d.Mode); err != nil {
			errs = append(errs, fmt.Errorf("mkdir %s: %w", d.Path, err))
		}
	}
	for _, l := range p.Symlinks {
		if err := m.Symlink(l.Target, l.Path); err != nil && !errors.Is(err, os.ErrExist) {
			errs = append(errs, fmt.Errorf("symlink %s: %w", l.Path, err))
		}
	}
	return errors.Join(errs...)
}

// MountPoints returns the set of mount points in infos.
func MountPoints(infos []procfs.MountInfo) map[string]bool {
	m := map[string]bool{}
	for _, i := range infos {
		m[i.Point] = true
	}
	return m
}
