package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/agent/growfs"
	"github.com/bangerdev/banger/internal/agent/initplan"
	"github.com/bangerdev/banger/internal/agent/mounts"
	"github.com/bangerdev/banger/internal/agent/netplan"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/guestpaths"
	"github.com/bangerdev/banger/internal/procfs"
)

// setup does PID 1's one-time duties from the boot config (bootSteps). It
// returns every failure; none stops the boot.
func setup(cfg bootcfg.Config) []error { return runAll(bootSteps(cfg, linuxEdge{})) }

// applyHeld is PID 1's part of a held boot's apply (applySteps); it stops
// at the first failure, and says how long each step took.
func applyHeld(cfg bootcfg.Config, now time.Time) (string, error) {
	return runTimed(applySteps(cfg, now, linuxEdge{}))
}

// reidentify is PID 1's part of a fork's re-identify (reidentifySteps);
// it stops at the first failure.
func reidentify(cfg bootcfg.Config, now time.Time) error {
	return runUntilError(reidentifySteps(cfg, now, linuxEdge{}))
}

// linuxEdge is the edge in the guest.
type linuxEdge struct{}

var _ edge = linuxEdge{}

func (linuxEdge) SetClock(now time.Time) error {
	ts := unix.NsecToTimespec(now.UnixNano())
	return unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}

func (linuxEdge) AddEntropy(seed []byte) error { return seedEntropy(seed) }

func (linuxEdge) ReseedCRNG() error {
	return urandomIoctl(unix.RNDRESEEDCRNG, nil)
}

func (linuxEdge) RemountRootRW() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/", &st); err != nil {
		return err
	}
	return unix.Mount("", "/", "", remountRWFlags(st.Flags), "")
}

func (linuxEdge) APIFileSystems() error { return initplan.Apply(apiPlan(), initplan.Linux{}) }

// Hostname sets the kernel's host name and writes /etc/hostname, as a
// container runtime does (`cat /etc/hostname` prints the VM's name, not
// the image's). An image without /etc gets none.
func (linuxEdge) Hostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return err
	}
	if fi, err := os.Stat("/etc"); err != nil || !fi.IsDir() {
		return nil
	}
	if err := replaceFile(guestpaths.Hostname, []byte(name+"\n")); err != nil {
		return fmt.Errorf("%s: %w", guestpaths.Hostname, err)
	}
	return nil
}

func (linuxEdge) Network(ops []netplan.Op) error { return netplan.Apply(ops, netplan.Netlink{}) }

func (linuxEdge) ResolvConf(content []byte) error { return writeResolvConf(content) }

func (linuxEdge) GrowRoot() error { return growRoot() }

func (linuxEdge) Mount(p initplan.Plan) error { return initplan.Apply(p, initplan.Linux{}) }

func (linuxEdge) Volumes(ms []bootcfg.Mount) error { return mounts.Apply(ms, mounts.Linux{}) }

// remountRWFlags are mount(2)'s flags to make the root read-write and
// keep its other per-mount flags, read from statfs (a remount sets them
// all). Most ST_* flags have their MS_* values, but not ST_RELATIME,
// whose value is MS_BIND's: a remount with it would change only the
// mount, and the file system would stay read-only.
func remountRWFlags(stFlags int64) uintptr {
	flags := uintptr(unix.MS_REMOUNT)
	for _, f := range [...]struct {
		st int64
		ms uintptr
	}{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_SYNCHRONOUS, unix.MS_SYNCHRONOUS}, {unix.ST_MANDLOCK, unix.MS_MANDLOCK},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if stFlags&f.st != 0 {
			flags |= f.ms
		}
	}
	return flags
}

// seedEntropy credits seed to the kernel's pool (RNDADDENTROPY takes a
// struct rand_pool_info: entropy bits, byte count, bytes).
func seedEntropy(seed []byte) error {
	buf := make([]byte, 8+len(seed))
	*(*int32)(unsafe.Pointer(&buf[0])) = int32(len(seed) * 8) //nolint:gosec // struct rand_pool_info
	*(*int32)(unsafe.Pointer(&buf[4])) = int32(len(seed))     //nolint:gosec // struct rand_pool_info
	copy(buf[8:], seed)
	return urandomIoctl(unix.RNDADDENTROPY, unsafe.Pointer(&buf[0])) //nolint:gosec // the ioctl takes the struct
}

// urandomIoctl calls one of random(4)'s ioctls on /dev/urandom.
func urandomIoctl(req uintptr, arg unsafe.Pointer) error {
	f, err := os.OpenFile("/dev/urandom", os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg)); e != 0 {
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
	const etc = guestpaths.ResolvConf
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
	return replaceFile(p, content)
}

// replaceFile replaces p, world-readable, by a rename: a reader sees the
// old content or the new. Unlike fsutil.WriteAtomic it does not fsync:
// the file is the guest's, rewritten at every boot, and the sync would
// be on the VM's start path.
func replaceFile(p string, content []byte) error {
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".banger")
	if err := os.WriteFile(tmp, content, 0o644); err != nil { //nolint:gosec // /etc/hostname and resolv.conf are world-readable
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
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
