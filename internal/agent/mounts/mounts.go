// Package mounts mounts a VM's volumes in the guest, from the boot
// config's list, before anything of the image runs: virtio-fs tags
// (shared host directories) and ext4 volumes, which it finds by their
// file system UUID because the order drives appear in differs between
// VMMs. A new, empty named volume is first filled from what the image
// has at its target — content, owner and mode — as docker does, so a
// service running as its own user finds its directory its own.
//
// The order is a value (Plan); Apply runs it through a small System edge
// (Linux in the guest). A mount that fails is an error the agent stops
// the boot on: a volume never silently goes missing.
package mounts

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/bootcfg"
)

// DeviceWait bounds the wait for an ext4 volume's block device.
const DeviceWait = 5 * time.Second

// StagingDir is where a volume is mounted while it is filled from the
// image, before it moves onto its target.
const StagingDir = "/run/banger/volumes"

// Plan orders ms so that a mount is made after every mount its target is
// under (parents first); mounts at one depth keep their order.
func Plan(ms []bootcfg.Mount) []bootcfg.Mount {
	out := slices.Clone(ms)
	depth := func(p string) int { return strings.Count(path.Clean(p), "/") }
	slices.SortStableFunc(out, func(a, b bootcfg.Mount) int { return depth(a.Target) - depth(b.Target) })
	return out
}

// Call is one mount(2) call.
type Call struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// call is how m is mounted once its source is known (the ext4 device).
func call(m bootcfg.Mount, source string) Call {
	c := Call{Source: source, Target: m.Target, FSType: m.Type}
	if m.ReadOnly {
		c.Flags |= unix.MS_RDONLY
		if m.Type == bootcfg.MountExt4 {
			// A read-only drive cannot replay a journal: do not load it.
			c.Data = "noload"
		}
	}
	return c
}

// System is the edge Apply works through.
type System interface {
	// FindExt4 returns the block device holding the ext4 file system
	// uuid, waiting for it at most timeout.
	FindExt4(uuid string, timeout time.Duration) (string, error)
	MkdirAll(path string, mode os.FileMode) error
	Mount(c Call) error
	Unmount(target string) error
	// Fill fills the volume mounted at staging from the image's
	// directory dir when the volume is still empty (see Fill).
	Fill(dir, staging string) error
}

// Apply mounts ms in Plan's order through sys. It stops at the first
// mount that fails and returns the error, naming the mount.
func Apply(ms []bootcfg.Mount, sys System) error {
	for i, m := range Plan(ms) {
		if err := apply(i, m, sys); err != nil {
			return fmt.Errorf("mount volume %s: %w", m, err)
		}
	}
	return nil
}

func apply(i int, m bootcfg.Mount, sys System) error {
	source := m.Source
	if m.Type == bootcfg.MountExt4 {
		dev, err := sys.FindExt4(m.Source, DeviceWait)
		if err != nil {
			return err
		}
		source = dev
	}
	if m.CopyUp && !m.ReadOnly {
		staging := path.Join(StagingDir, strconv.Itoa(i))
		if err := sys.MkdirAll(staging, 0o700); err != nil {
			return err
		}
		if err := sys.Mount(Call{Source: source, Target: staging, FSType: m.Type}); err != nil {
			return err
		}
		ferr := sys.Fill(m.Target, staging)
		if err := sys.Unmount(staging); err != nil || ferr != nil {
			return fmt.Errorf("fill from the image's %s: %w", m.Target, errors.Join(ferr, err))
		}
	}
	if err := sys.MkdirAll(m.Target, 0o755); err != nil {
		return err
	}
	return sys.Mount(call(m, source))
}
