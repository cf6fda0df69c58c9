package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/growfs"
	"github.com/bangerdev/banger/internal/agent/initplan"
	"github.com/bangerdev/banger/internal/agent/netplan"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/procfs"
)

// setup does PID 1's one-time duties from the boot config, entropy first
// (an SSH handshake needs it: docs/architecture.md, the entropy trap). It returns every
// failure; none stops the boot.
func setup(cfg bootcfg.Config) []error {
	var errs []error
	if len(cfg.EntropySeed) > 0 {
		if err := seedEntropy(cfg.EntropySeed); err != nil {
			errs = append(errs, fmt.Errorf("entropy seed: %w", err))
		}
	}
	if cfg.Hostname != "" {
		if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
			errs = append(errs, fmt.Errorf("hostname: %w", err))
		}
	}
	if err := netplan.Apply(netplan.Plan(cfg.Network), netplan.Netlink{}); err != nil {
		errs = append(errs, err)
	}
	if content := netplan.ResolvConf(cfg.Network); content != nil {
		if err := writeResolvConf(content); err != nil {
			errs = append(errs, fmt.Errorf("resolv.conf: %w", err))
		}
	}
	if cfg.GrowRoot {
		if err := growRoot(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(cfg.Tmpfs) > 0 {
		if err := initplan.Apply(initplan.Tmpfs(cfg.Tmpfs), initplan.Linux{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// seedEntropy credits seed to the kernel's pool (RNDADDENTROPY takes a
// struct rand_pool_info: entropy bits, byte count, bytes).
func seedEntropy(seed []byte) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 8+len(seed))
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(seed) * 8) //nolint:gosec // struct rand_pool_info
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(seed))     //nolint:gosec // struct rand_pool_info
	copy(buf[8:], seed)
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&buf[0]))); e != 0 { //nolint:gosec // ioctl argument
			ioErr = e
		}
	})
	if err != nil {
		return err
	}
	return ioErr
}

// writeResolvConf writes where netplan.ResolvTarget says.
func writeResolvConf(content []byte) error {
	const etc = "/etc/resolv.conf"
	link, _ := os.Readlink(etc)
	_, statErr := os.Stat(etc)
	p, replace := netplan.ResolvTarget(link, link != "" && statErr == nil)
	if replace {
		if err := os.Remove(etc); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".banger"
	if err := os.WriteFile(tmp, content, 0o644); err != nil { //nolint:gosec // resolv.conf is world-readable
		return err
	}
	return os.Rename(tmp, p)
}

func growRoot() error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	infos, err := procfs.ParseMountinfo(f)
	_ = f.Close()
	if err != nil {
		return err
	}
	t, err := growfs.RootTarget(infos)
	if err != nil {
		return err
	}
	size, err := growfs.DeviceBytes(t.Major, t.Minor)
	if err != nil {
		return fmt.Errorf("grow root: %w", err)
	}
	_, _, err = growfs.Grow(t, size)
	return err
}
