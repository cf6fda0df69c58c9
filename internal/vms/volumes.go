package vms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// VolumeCatalog holds named volumes (a *volumes.Service).
type VolumeCatalog interface {
	Get(name string) (volumes.Volume, error)
	// Path is the volume's ext4 file.
	Path(name string) string
	// Claim holds the volume for the VM while it runs; Unclaim and
	// UnclaimAll (every volume the VM holds) let go.
	Claim(name, vmID string) (volumes.Volume, error)
	Unclaim(name, vmID string) error
	UnclaimAll(vmID string) error
}

// Shares are the host's side of shared directories and directory images
// (a volumes.Host).
type Shares interface {
	// StartShare starts a shared directory's virtiofsd, its socket ready.
	StartShare(s volumes.Share) (proc.Identity, error)
	// StopShare ends a recorded virtiofsd and removes its files;
	// StopSharesOf ends every virtiofsd carrying the VM's id.
	StopShare(id proc.Identity, socket, log string) error
	StopSharesOf(vmID string) error
	// BuildImage copies dir into a new ext4 at path; it returns its UUID.
	BuildImage(ctx context.Context, dir, path string, size int64) (string, error)
	// MakePod makes a pod share's directory, a shared mount; ReleasePod
	// unmounts it with every image under it and removes it (absent is
	// not an error).
	MakePod(dir string) error
	ReleasePod(dir string) error
	// MountPodImage mounts a container's ext4 image read-only at target
	// under a pod share; UnmountPodImage unmounts it (lazily) and
	// removes target (absent is not an error).
	MountPodImage(vmID, image, target string) error
	UnmountPodImage(target string) error
}

// VolumeUsers returns the VMs in tx whose spec mounts the named volume.
// The volume catalog asks it, inside its own transaction, before it
// removes a volume or lets another VM take one.
func VolumeUsers(tx *store.Tx, name string) []volumes.User {
	vms, _ := store.List[VM](tx, store.VMs)
	var out []volumes.User
	for _, vm := range vms {
		for _, m := range vm.Spec.Mounts {
			if m.Type == volumes.TypeVolume && m.Source == name {
				out = append(out, volumes.User{ID: vm.ID, Name: vm.Name})
				break
			}
		}
	}
	return out
}

// SnapshotBlocker says why the VM cannot be paused to a file,
// snapshotted, checkpointed or forked, or returns nil: a shared directory
// (-v HOST:GUEST) is a vhost-user-fs device, whose state lives in
// virtiofsd, outside the VMM, and cannot be migrated (vmm.Spec's
// SnapshotBlocker). Named volumes and directory images are drives, which
// do not block. A snapshot stage asks this before it starts.
func (vm VM) SnapshotBlocker() error {
	var shared []string
	for _, m := range vm.Spec.Mounts {
		if m.Shared() {
			shared = append(shared, m.Flag())
		}
	}
	if len(shared) == 0 {
		return nil
	}
	return fmt.Errorf("vm %s: %w: %w: it shares host directories (%v) through virtio-fs, whose device cannot be migrated; "+
		"use a named volume or --mount type=image instead, which are drives", vm.Name, errdefs.ErrUnsupported, vmm.ErrNotMigratable, shared)
}

// checkMounts refuses, before anything is created, the mounts a start
// could not make: a host directory that is not there, a named volume
// that does not exist, a shared directory on a backend or kernel without
// virtio-fs (offering --mount type=image). Every error names the flag.
func (s *Service) checkMounts(ctx context.Context, spec Spec, k Kernel) error {
	if len(spec.Mounts) == 0 {
		return nil
	}
	var caps *vmm.Capabilities
	if b, _, err := s.Backends.Pick(ctx, spec.VMM); err == nil {
		c := b.Capabilities()
		caps = &c
	}
	var errs []error
	for _, m := range spec.Mounts {
		if err := s.checkMount(m, caps, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkMount checks one mount against the host; caps is nil when no
// backend can run here (the start says why).
func (s *Service) checkMount(m volumes.Mount, caps *vmm.Capabilities, k Kernel) error {
	switch m.Type {
	case volumes.TypeBind, volumes.TypeImage:
		if err := checkHostDir(m); err != nil {
			return err
		}
	case volumes.TypeVolume:
		if s.Volumes == nil {
			return fmt.Errorf("%s: %w: this daemon has no named volumes", m.Flag(), errdefs.ErrUnavailable)
		}
		if _, err := s.Volumes.Get(m.Source); err != nil {
			return fmt.Errorf("%s: %w", m.Flag(), err)
		}
	}
	if m.Shared() {
		return sharedDirSupport(m, caps, k)
	}
	if caps != nil && !caps.ExtraDrives {
		return fmt.Errorf("%s: %w: the VMM cannot attach more drives", m.Flag(), errdefs.ErrUnsupported)
	}
	return nil
}

// checkHostDir checks that a mount's host path is a directory.
func checkHostDir(m volumes.Mount) error {
	fi, err := os.Stat(m.Source)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s: host path %s does not exist", errdefs.ErrInvalid, m.Flag(), m.Source)
	case err != nil:
		return fmt.Errorf("%w: %s: %w", errdefs.ErrInvalid, m.Flag(), err)
	case !fi.IsDir():
		return fmt.Errorf("%w: %s: host path %s is not a directory; volumes share directories: give its parent", errdefs.ErrInvalid, m.Flag(), m.Source)
	}
	return nil
}

// sharedDirSupport says whether the backend (caps; nil: unknown) and the
// kernel can share a host directory, and what to do instead.
func sharedDirSupport(m volumes.Mount, caps *vmm.Capabilities, k Kernel) error {
	image := volumes.Mount{Type: volumes.TypeImage, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}.Flag()
	if caps != nil && !caps.SharedDirs {
		return fmt.Errorf("%s: %w: the VMM cannot share a host directory live (it has no virtio-fs); "+
			"copy it into the VM with `%s` (the guest's writes then stay in the copy), or run the VM with --vmm qemu",
			m.Flag(), errdefs.ErrUnsupported, image)
	}
	if !k.VirtioFS {
		return fmt.Errorf("%s: %w: kernel %s cannot mount shared directories (no CONFIG_VIRTIO_FS, or imported by an older banger: import it again); "+
			"pick another with --kernel, or copy the directory with `%s`", m.Flag(), errdefs.ErrUnsupported, k.Name, image)
	}
	return nil
}

// isHelper reports whether pid is a process banger started for a VM
// besides its VMM (volumes.EnvRole: a virtiofsd), which its own stage
// ends.
func isHelper(pid int) bool {
	env, err := proc.Environ(pid)
	return err == nil && slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, volumes.EnvRole+"=") })
}
