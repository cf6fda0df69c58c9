package firecracker

import (
	"os"

	"golang.org/x/sys/unix"
)

// KVM ioctls (linux/kvm.h: _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01)).
const (
	ioctlKVMGetAPIVersion = 0xAE00
	ioctlKVMCreateVM      = 0xAE01
)

func kvmAPIVersion(dev string) (int, error) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	v, err := unix.IoctlRetInt(int(f.Fd()), ioctlKVMGetAPIVersion)
	if err != nil {
		return 0, err
	}
	return v, nil
}

func kvmCreateVM(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	fd, err := unix.IoctlRetInt(int(f.Fd()), ioctlKVMCreateVM)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
