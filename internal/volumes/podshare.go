package volumes

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// A pod share is the one shared directory of a pod VM (one VM running a
// pod's containers, as Kata does): each container's image is mounted
// read-only in a directory of its own under it while the VM runs, and
// the guest's agent makes the container's root over that directory.
//
// virtiofsd (sandbox=namespace) serves the share from a mount namespace
// of its own, made at its start, with every mount a slave of the host's.
// A mount made later under a directory that is not itself a shared mount
// never reaches that namespace (the host's "/" may well be private), so
// the share is first bound onto itself and made shared (MakePod),
// before virtiofsd starts; announce_submounts then shows each container's
// mount as a submount in the guest. Verified with QEMU's virtiofsd 7.2:
// an ext4 loop-mounted read-only under the share after the VM booted is
// read in the guest; its lazy unmount (UnmountPodImage) empties the
// guest's directory and frees the loop device, where a plain unmount is
// refused (busy) for as long as virtiofsd holds the mount in its own
// namespace.
//
// Every call here is one mount(2) or umount2(2) on a path given by the
// caller, who records it (the VM's runtime record) before making it; the
// releases are idempotent, so a record is enough to undo them after a
// crash.

// PodImageDir is where the image of container id is mounted under the
// pod share dir; id must be a name (no '/', not "." or "..").
func PodImageDir(dir, id string) (string, error) {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00,:\\") || len(id) > 128 {
		return "", fmt.Errorf("container id %q: want a name (no '/', ',', ':'; at most 128 bytes): %w", id, errdefs.ErrInvalid)
	}
	return filepath.Join(dir, id), nil
}

// MountPodImage mounts the ext4 file image read-only (no journal replay)
// on a loop device at target (PodImageDir), making target when absent.
// attach gives the loop device (dmsnap.AttachLoop, read-only,
// autoclear: it goes with the mount, labelled with the VM's id) and the
// hold that keeps it until the mount is made.
func MountPodImage(image, target string, attach func(image string) (dev string, hold io.Closer, err error)) error {
	if err := os.Mkdir(target, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pod image %s: %w", target, err)
	}
	dev, hold, err := attach(image)
	if err != nil {
		return fmt.Errorf("pod image %s: loop device for %s: %w", target, image, err)
	}
	defer func() { _ = hold.Close() }()
	if err := unix.Mount(dev, target, "ext4", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, "noload"); err != nil {
		return fmt.Errorf("pod image %s: mount %s (%s): %w", target, image, dev, err)
	}
	return nil
}

// UnmountPodImage lazily unmounts target and removes the directory. A
// lazy unmount because virtiofsd's copy of the mount stays busy while
// the guest has looked at it; the file system (and its autoclear loop
// device) goes once the last user lets go. Absent is not an error.
func UnmountPodImage(target string) error {
	if err := detach(target); err != nil {
		return fmt.Errorf("pod image %s: unmount: %w", target, err)
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pod image %s: %w", target, err)
	}
	return nil
}

func detach(target string) error {
	err := unix.Unmount(target, unix.MNT_DETACH)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

// MakePod makes a pod share: dir (in the VM's runtime directory) made,
// bound onto itself and that mount made shared, so mounts made under dir
// later propagate to the namespaces copied from it (virtiofsd's).
func MakePod(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pod share %s: %w", dir, err)
	}
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("pod share %s: bind onto itself: %w", dir, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		_ = unix.Unmount(dir, unix.MNT_DETACH)
		return fmt.Errorf("pod share %s: make it shared: %w", dir, err)
	}
	return nil
}

// ReleasePod lazily unmounts a pod share's own mount with every image
// still mounted under it (one lazy unmount) and, only then, removes the
// directory. A dir that is no mount point, or gone, is not an error.
func ReleasePod(dir string) error {
	if err := detach(dir); err != nil {
		return fmt.Errorf("pod share %s: unmount: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("pod share %s: %w", dir, err)
	}
	return nil
}
