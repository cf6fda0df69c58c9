package mounts

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/ext4sb"
)

// Linux is the guest's System.
type Linux struct {
	// SysBlock and Dev default to /sys/block and /dev (tests point them
	// at a tree of their own).
	SysBlock, Dev string
}

var _ System = Linux{}

// FindExt4 looks at every virtio block device (vd*) for the file system
// uuid, until it appears or timeout passes.
func (l Linux) FindExt4(uuid string, timeout time.Duration) (string, error) {
	sysBlock, dev := l.SysBlock, l.Dev
	if sysBlock == "" {
		sysBlock = "/sys/block"
	}
	if dev == "" {
		dev = "/dev"
	}
	deadline := time.Now().Add(timeout)
	for {
		entries, err := os.ReadDir(sysBlock)
		if err != nil {
			return "", err
		}
		var seen []string
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "vd") {
				continue
			}
			p := filepath.Join(dev, e.Name())
			seen = append(seen, e.Name())
			if got, err := ext4sb.FileUUID(p); err == nil && got == uuid {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no block device holds the ext4 file system %s (looked at %s): %w", uuid, strings.Join(seen, ", "), os.ErrNotExist)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// MkdirAll creates path (mode before umask).
func (Linux) MkdirAll(path string, mode os.FileMode) error { return os.MkdirAll(path, mode) }

// Mount calls mount(2).
func (Linux) Mount(c Call) error {
	if err := unix.Mount(c.Source, c.Target, c.FSType, c.Flags, c.Data); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mount %s on %s: %w (the kernel has no %s: is its module in the initramfs?)", c.Source, c.Target, err, c.FSType)
		}
		return fmt.Errorf("mount %s on %s: %w", c.Source, c.Target, err)
	}
	return nil
}

// Unmount calls umount(2).
func (Linux) Unmount(target string) error { return unix.Unmount(target, 0) }

// Fill is the package's Fill.
func (Linux) Fill(dir, staging string) error { return Fill(dir, staging) }
