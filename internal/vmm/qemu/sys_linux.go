package qemu

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// openTap attaches to the persistent tap name (made by hostnet with a
// virtio-net header) and returns the queue's descriptor for QEMU.
func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("attach to tap %s: %w", name, err)
	}
	// TUNSETIFF makes a tap of that name when there is none (in this
	// network namespace): a VM would boot with a NIC on nothing. hostnet's
	// taps are persistent; a transient one goes when fd closes.
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil || ifr.Uint16()&unix.IFF_PERSIST == 0 {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("attach to tap %s: %w: no such tap in this network namespace", name, errdefs.ErrNotFound)
	}
	return os.NewFile(uintptr(fd), "tap:"+name), nil
}

// startInCgroup makes the child start inside the cgroup dir (clone3 with
// CLONE_INTO_CGROUP).
func startInCgroup(attr *syscall.SysProcAttr, dir *os.File) {
	attr.UseCgroupFD, attr.CgroupFD = true, int(dir.Fd())
}
