package dmsnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Loop device flags (linux/loop.h).
const (
	loFlagsReadOnly  = 1
	loFlagsAutoclear = 4
)

// hostSystem is the real edge: loop ioctls, sysfs, dmsetup.
type hostSystem struct{}

func lookDmsetup() (string, error) { return exec.LookPath("dmsetup") }

func (hostSystem) Run(ctx context.Context, argv []string) ([]byte, error) {
	return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
}

func (hostSystem) CreateSparse(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// AttachLoop takes a free loop device and configures it in one
// LOOP_CONFIGURE: backing file, label, read-only, autoclear. The caller's
// hold is the only opener until the dm table takes the device; closing it
// before then detaches the device (autoclear), which is what a crash
// does too.
func (hostSystem) AttachLoop(backing, label string, readOnly bool) (string, io.Closer, error) {
	flag := os.O_RDWR
	if readOnly {
		flag = os.O_RDONLY
	}
	bf, err := os.OpenFile(backing, flag, 0)
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = bf.Close() }()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, err
	}
	defer func() { _ = ctl.Close() }()
	for attempt := 0; attempt < 5; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("get free loop device: %w", err)
		}
		dev := loopDev(n)
		lf, err := os.OpenFile(dev, flag, 0)
		if err != nil {
			return "", nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(bf.Fd())}
		cfg.Info.Flags = loFlagsAutoclear
		if readOnly {
			cfg.Info.Flags |= loFlagsReadOnly
		}
		copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], label)
		err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
		if err == nil {
			return dev, lf, nil
		}
		_ = lf.Close()
		if !errors.Is(err, unix.EBUSY) { // EBUSY: another process took it first
			return "", nil, fmt.Errorf("configure %s: %w", dev, err)
		}
	}
	return "", nil, fmt.Errorf("attach loop for %s: every free device was taken first", backing)
}

func (hostSystem) DetachLoop(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("detach %s: %w", dev, errBusy)
		}
		if errors.Is(err, unix.ENXIO) {
			return nil // not attached (any more)
		}
		return fmt.Errorf("detach %s: %w", dev, err)
	}
	return nil
}

// Loops reads the label of every attached loop device.
func (hostSystem) Loops() ([]Loop, error) {
	dirs, err := filepath.Glob("/sys/block/loop*/loop")
	if err != nil {
		return nil, err
	}
	var out []Loop
	for _, d := range dirs {
		name := filepath.Base(filepath.Dir(d))
		n, err := strconv.Atoi(strings.TrimPrefix(name, "loop"))
		if err != nil {
			continue
		}
		dev := loopDev(n)
		f, err := os.OpenFile(dev, os.O_RDONLY, 0)
		if err != nil {
			continue // detached meanwhile
		}
		info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
		_ = f.Close()
		if err != nil {
			continue
		}
		out = append(out, Loop{Dev: dev, Label: cString(info.File_name[:])})
	}
	return out, nil
}

// Devices reads the dm devices from sysfs.
func (hostSystem) Devices() ([]Device, error) {
	dirs, err := filepath.Glob("/sys/block/dm-*/dm")
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, d := range dirs {
		name, err := os.ReadFile(filepath.Join(d, "name"))
		if err != nil {
			continue
		}
		uuid, _ := os.ReadFile(filepath.Join(d, "uuid"))
		out = append(out, Device{Name: strings.TrimSpace(string(name)), UUID: strings.TrimSpace(string(uuid))})
	}
	return out, nil
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// AttachLoop attaches backing to a free loop device as Manager does
// (autoclear, label as lo_file_name: name it after the VM, so the
// inventory finds it) and returns the device and the hold that keeps it
// attached until whatever uses it (a mount) opens it.
func AttachLoop(backing, label string, readOnly bool) (string, io.Closer, error) {
	return hostSystem{}.AttachLoop(backing, label, readOnly)
}
