package initplan

import (
	"os"

	"golang.org/x/sys/unix"
)

// Linux is the real Mounter.
type Linux struct{}

// Mount calls mount(2).
func (Linux) Mount(source, target, fstype string, flags uintptr, data string) error {
	return unix.Mount(source, target, fstype, flags, data)
}

// MkdirAll creates path (mode before umask).
func (Linux) MkdirAll(path string, mode os.FileMode) error { return os.MkdirAll(path, mode) }

// Symlink creates a symbolic link.
func (Linux) Symlink(target, path string) error { return os.Symlink(target, path) }
