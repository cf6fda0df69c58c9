package process

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks is how many symbolic links a resolution follows, as the
// kernel's limit (40) before ELOOP.
const maxLinks = 40

// StatIn stats p, a path as a process chrooted to root sees it, following
// symbolic links the way the kernel would after that chroot: an absolute
// target starts again at root and ".." never climbs above it. A
// container image's /bin/sh -> /bin/busybox thus resolves in the image,
// not in the guest around it. With root "/" it is os.Stat.
func StatIn(root, p string) (os.FileInfo, error) {
	if root == "" || root == "/" {
		return os.Stat(filepath.Join("/", p))
	}
	cur, rest, hops := "/", strings.Split(p, "/"), 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > maxLinks {
			return nil, &os.PathError{Op: "stat", Path: p, Err: syscall.ELOOP}
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(target, "/") {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return os.Stat(filepath.Join(root, cur))
}
