package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
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
// it does not exist yet).
func (m *Manager) sizedImage(ctx context.Context, req Request) (string, error) {
	if !req.grows() {
		return req.Image, nil
	}
	path := SizedPath(req.Image, req.size())
	unlock := m.sized.Lock(path)
	defer unlock()
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp) // what a crash during an earlier attempt left
	if err := reflink(req.Image, tmp); err != nil {
		if err := sparseCopy(req.Image, tmp); err != nil {
			_ = os.Remove(tmp)
			return "", fmt.Errorf("copy the image: %w", err)
		}
	}
	// Shared and read-only like the image: readable by an unprivileged VMM.
	if err := os.Chmod(tmp, 0o644); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	if err := m.grow(ctx, tmp, req.size()); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return path, nil
}

// grow enlarges the file system in the file at path to size, offline.
func (m *Manager) grow(ctx context.Context, path string, size int64) error {
	for i, argv := range growArgv(path) {
		if i == len(growArgv(path))-1 {
			if err := os.Truncate(path, size); err != nil {
				return fmt.Errorf("grow: %w", err)
			}
		}
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
