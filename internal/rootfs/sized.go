package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"

	"github.com/bangerdev/banger/internal/fsutil"
)

// A VM's disk is bigger than its image (vm.disk, --disk). The image's
// file system cannot grow online in the guest (the kernel refuses online
// resizing of sparse_super2 file systems, which tar2ext4 writes), so it is
// grown offline, once per image and size: a sparse copy next to the image
// (<image>.<size>), which every VM of that image and size shares as the
// backing of its qcow2 overlay or dm snapshot, or the source of its
// reflink or copy. It lives in the image's directory and goes with it.

// SizedPath is where the image grown to size lives.
func SizedPath(image string, size int64) string {
	return image + "." + strconv.FormatInt(size, 10)
}

// sizedImage returns req's image at the disk's size: the image itself
// when the disk does not grow, else the shared grown copy (made now when
// it does not exist yet). Its errors say which VM's disk failed and name
// a full file system (fsutil.NoSpace).
func (m *Manager) sizedImage(ctx context.Context, req Request) (string, error) {
	if !req.grows() {
		return req.Image, nil
	}
	path := SizedPath(req.Image, req.size())
	if err := m.makeSized(ctx, req, path); err != nil {
		return "", fsutil.NoSpace(fmt.Errorf("vm %s disk: image at %d bytes: %w", req.VMID, req.SizeBytes, err), path)
	}
	return path, nil
}

// makeSized makes the grown copy at path unless it exists; a failed
// attempt leaves nothing.
func (m *Manager) makeSized(ctx context.Context, req Request, path string) error {
	unlock := m.sized.Lock(path)
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)                    // what a crash during an earlier attempt left
	defer func() { _ = os.Remove(tmp) }() // gone already once renamed
	if err := cloneFile(req.Image, tmp); err != nil {
		return fmt.Errorf("copy the image: %w", err)
	}
	// Shared and read-only like the image: readable by an unprivileged VMM.
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err := m.grow(ctx, tmp, req.size()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// grow enlarges the file at path to size and its file system to fill it,
// offline.
func (m *Manager) grow(ctx context.Context, path string, size int64) error {
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("grow: %w", err)
	}
	for _, argv := range growArgv(path) {
		out, err := m.run.Run(ctx, argv)
		switch {
		case err == nil, e2fsckFixed(argv, err):
		case argv[0] == "tune2fs":
			// Only laziness is lost: without uninit_bg, resize2fs zeroes
			// the new inode tables, allocating them.
		default:
			return fmt.Errorf("grow: %s: %w", argv[0], cmdErr(err, out))
		}
	}
	return nil
}

// growArgv grows the file system in a file already enlarged to its new
// size: uninit_bg first, so the new groups' inode tables stay unwritten
// (sparse), then the check resize2fs insists on, then the resize.
func growArgv(path string) [][]string {
	return [][]string{
		{"tune2fs", "-O", "uninit_bg", path},
		{"e2fsck", "-fy", path},
		{"resize2fs", path},
	}
}

// e2fsckFixed reports an e2fsck exit status of 1: it fixed something (the
// group checksums uninit_bg adds, a count), which is success.
func e2fsckFixed(argv []string, err error) bool {
	var ee *exec.ExitError
	return argv[0] == "e2fsck" && errors.As(err, &ee) && ee.ExitCode() == 1
}
