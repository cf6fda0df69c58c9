package kvm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// KVM ioctls (linux/kvm.h: _IO(KVMIO, 0x00) and _IO(KVMIO, 0x01)).
const (
	ioctlKVMGetAPIVersion = 0xAE00
	ioctlKVMCreateVM      = 0xAE01
)

func apiVersion(path string) (int, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	v, err := unix.IoctlRetInt(int(f.Fd()), ioctlKVMGetAPIVersion)
	if err != nil {
		// Any device node opens; only KVM's answers this ioctl.
		return 0, fmt.Errorf("%s is not a KVM device (KVM_GET_API_VERSION: %w)", path, err)
	}
	return v, nil
}

func createVM(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	fd, err := unix.IoctlRetInt(int(f.Fd()), ioctlKVMCreateVM)
	if err != nil {
		return fmt.Errorf("KVM_CREATE_VM: %w", err)
	}
	return unix.Close(fd)
}
