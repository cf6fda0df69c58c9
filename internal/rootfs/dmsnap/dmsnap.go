package dmsnap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Loop is an attached loop device.
type Loop struct {
	Dev   string // /dev/loopN
	Label string // lo_file_name
}

// Device is a device-mapper device.
type Device struct {
	Name string
	UUID string
}

// system is the thin edge Manager executes plans on. Tests replace it.
type system interface {
	// AttachLoop attaches backing with autoclear and the label; hold
	// keeps the device open (and so attached) until closed.
	AttachLoop(backing, label string, readOnly bool) (dev string, hold io.Closer, err error)
	// DetachLoop detaches a loop device (LOOP_CLR_FD).
	DetachLoop(dev string) error
	// Loops lists attached loop devices.
	Loops() ([]Loop, error)
	// Devices lists device-mapper devices.
	Devices() ([]Device, error)
	// Run runs a command (dmsetup) and returns its combined output.
	Run(ctx context.Context, argv []string) ([]byte, error)
	// CreateSparse creates path with size bytes, allocating nothing.
	CreateSparse(path string, size int64) error
}

// Manager creates and removes dm-snapshot disks.
type Manager struct {
	sys system
	// retry bounds the attempts on a busy device, backoff the first wait.
	retry   int
	backoff time.Duration
}

// New returns a Manager on the host's device-mapper and loop devices.
func New() *Manager { return &Manager{sys: hostSystem{}, retry: 8, backoff: 20 * time.Millisecond} }

// Available says why dm-snapshot disks cannot work here, or nil.
func Available() error {
	if _, err := os.Stat("/dev/mapper/control"); err != nil {
		return fmt.Errorf("dm-snapshot: %w: no device-mapper (/dev/mapper/control: %w)", errdefs.ErrUnavailable, err)
	}
	if _, err := lookDmsetup(); err != nil {
		return fmt.Errorf("dm-snapshot: %w: dmsetup not found (install the dmsetup package)", errdefs.ErrUnavailable)
	}
	return nil
}

// Disk is a created snapshot disk.
type Disk struct {
	// Path is the block device to give the VMM (/dev/mapper/<name>).
	Path  string
	Names Names
}

// Create makes the disk of plan. record receives every name before any
// host object exists (nil is allowed in tests). It is idempotent: when
// the dm device already exists, it is returned as is. On error, what
// Create made is gone again (the COW file stays: it may hold the VM's
// data).
func (m *Manager) Create(ctx context.Context, p Plan, record func(Names) error) (Disk, error) {
	disk := Disk{Path: p.Path(), Names: p.Names}
	fail := func(step string, err error) (Disk, error) {
		return Disk{}, fmt.Errorf("dm-snapshot %s: %s: %w", p.Names.DM, step, err)
	}
	if record != nil {
		if err := record(p.Names); err != nil {
			return fail("record names", err)
		}
	}
	devs, err := m.sys.Devices()
	if err != nil {
		return fail("list dm devices", err)
	}
	for _, d := range devs {
		if d.Name == p.Names.DM {
			return disk, nil
		}
	}
	// Leftovers of an attempt that crashed half-way (a labelled loop
	// someone still holds) would confuse the next Remove: clear them.
	if err := m.Remove(ctx, p.VMID); err != nil {
		return fail("clear leftovers", err)
	}
	if _, err := os.Stat(p.Names.COW); errors.Is(err, os.ErrNotExist) {
		if err := m.sys.CreateSparse(p.Names.COW, p.COWSize); err != nil {
			return fail("create COW file", err)
		}
	} else if err != nil {
		return fail("COW file", err)
	}
	origin, holdOrigin, err := m.sys.AttachLoop(p.Image, p.Names.OriginLabel, true)
	if err != nil {
		return fail("attach origin loop", err)
	}
	defer func() { _ = holdOrigin.Close() }()
	cow, holdCOW, err := m.sys.AttachLoop(p.Names.COW, p.Names.COWLabel, false)
	if err != nil {
		return fail("attach COW loop", err)
	}
	defer func() { _ = holdCOW.Close() }()
	if out, err := m.sys.Run(ctx, p.CreateArgv(origin, cow)); err != nil {
		return fail("dmsetup create", cmdError(err, out))
	}
	if out, err := m.sys.Run(ctx, p.MknodesArgv()); err != nil {
		_ = m.removeDM(ctx, p.Names.DM)
		return fail("dmsetup mknodes", cmdError(err, out))
	}
	// The holds close here: the dm table keeps both loops open, and
	// their autoclear detaches them when the dm device goes.
	return disk, nil
}

// Remove releases every dm device and loop device of vmID, found by name:
// dm devices first (retrying while the VMM's last close is in flight),
// then any loop device still labelled for the VM. A VM with nothing left
// is not an error.
func (m *Manager) Remove(ctx context.Context, vmID string) error {
	devs, err := m.sys.Devices()
	if err != nil {
		return fmt.Errorf("dm-snapshot remove vm %s: list dm devices: %w", vmID, err)
	}
	var errs []error
	for _, d := range devs {
		if ownedBy(d.Name, vmID) && strings.HasPrefix(d.UUID, UUIDPrefix) {
			errs = append(errs, m.removeDM(ctx, d.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dm-snapshot remove vm %s: %w", vmID, err)
	}
	loops, err := m.sys.Loops()
	if err != nil {
		return fmt.Errorf("dm-snapshot remove vm %s: list loop devices: %w", vmID, err)
	}
	for _, l := range loops {
		if ownedBy(l.Label, vmID) {
			errs = append(errs, m.retryBusy(ctx, func() error { return m.sys.DetachLoop(l.Dev) }))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dm-snapshot remove vm %s: %w", vmID, err)
	}
	return nil
}

func (m *Manager) removeDM(ctx context.Context, name string) error {
	return m.retryBusy(ctx, func() error {
		out, err := m.sys.Run(ctx, RemoveArgv(name))
		if err != nil {
			return cmdError(err, out)
		}
		return nil
	})
}

// errBusy marks a device still open somewhere (EBUSY).
var errBusy = errors.New("device or resource busy")

// retryBusy runs f until it succeeds, fails otherwise than busy, or the
// attempts run out; the wait doubles from m.backoff.
func (m *Manager) retryBusy(ctx context.Context, f func() error) error {
	wait := m.backoff
	var err error
	for i := 0; i < m.retry; i++ {
		if err = f(); err == nil || !errors.Is(err, errBusy) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
	return fmt.Errorf("%w (after %d attempts)", err, m.retry)
}

// cmdError makes a failed command's output part of its error, and marks
// "busy" so retryBusy can tell.
func cmdError(err error, out []byte) error {
	msg := strings.TrimSpace(string(out))
	if strings.Contains(msg, "Device or resource busy") {
		return fmt.Errorf("%w: %s", errBusy, msg)
	}
	if msg == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, msg)
}
