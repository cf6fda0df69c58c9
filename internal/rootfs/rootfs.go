// Package rootfs makes each VM's writable disk from its image's ext4, which
// stays read-only and shared by every VM of that image.
//
// A strategy is chosen per host and backend, best first:
//
//   - reflink: a FICLONE copy-on-write clone of the image file (XFS, btrfs);
//     instant, shares blocks, an ordinary raw file the VMM opens.
//   - qcow2 (QEMU only): an overlay with the image as its raw backing file;
//     instant on any file system, but ties the VM to the image file.
//   - dm-snapshot: a device-mapper snapshot over loop devices, for raw-only
//     VMMs (Firecracker) when /dev/mapper/control exists; implemented by a
//     Provider from rootfs/dmsnap, which the daemon plugs in.
//   - copy: a sparse copy (SEEK_DATA/SEEK_HOLE) of the image; works
//     everywhere, costs the image's data in time and space.
//
// config vm.disk_strategy forces one. Growing (--disk SIZE) happens before
// boot: a raw disk's file is extended and its ext4 resized offline
// (e2fsck -f, resize2fs: fast, nothing for the guest to do); a qcow2 disk's
// virtual size is set at creation and Disk.GrowFS tells the daemon that the
// guest agent must grow the ext4 online at boot (EXT4_IOC_RESIZE_FS), since
// the ext4 inside a qcow2 cannot be resized without exposing it as a block
// device on the host.
//
// The daemon records a Disk (Plan: names only, no side effects) before
// Create makes it, and Remove is idempotent, so a crash at any point leaves
// a record to clean up from. Commands (qemu-img, e2fsck, resize2fs) are
// built as values by pure functions and run through a small Runner.
package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/bangerdev/banger/internal/errdefs"
)

// Strategy names a way to make a VM disk.
type Strategy string

// The strategies; Auto picks the best available.
const (
	Auto       Strategy = "auto"
	Reflink    Strategy = "reflink"
	QCOW2      Strategy = "qcow2"
	DMSnapshot Strategy = "dm-snapshot"
	Copy       Strategy = "copy"
)

// Request asks for one VM's disk.
type Request struct {
	// VMID names the disk's host objects.
	VMID string
	// Image is the image's read-only ext4 file.
	Image string
	// Dir is the VM's persistent directory (paths.Layout.VM); file disks
	// are made in it. Capabilities are detected once in its parent (the
	// VMs directory), since they belong to the file system.
	Dir string
	// Size is the disk's size in bytes; 0 keeps the image's size. It may
	// not be smaller than the image.
	Size int64
	// Backend is the VMM ("qemu", "firecracker"); qcow2 needs qemu.
	Backend string
	// Strategy is "auto" (or empty) or the strategy to force
	// (config vm.disk_strategy).
	Strategy Strategy
}

// Disk is a VM's writable disk as the daemon records it.
type Disk struct {
	Strategy Strategy `json:"strategy"`
	// Path is what the VMM opens: a file, or a device for dm-snapshot.
	Path string `json:"path"`
	// Format is "raw" or "qcow2".
	Format string `json:"format"`
	// Image is the read-only image the disk derives from.
	Image string `json:"image"`
	// Size is the disk's size in bytes.
	Size int64 `json:"size"`
	// GrowFS is set when the disk is larger than the ext4 on it, which the
	// guest must grow online at boot (qcow2 with --disk).
	GrowFS bool `json:"grow_fs,omitempty"`
	// Devices names host objects a provider made, by role (dm-snapshot:
	// loop devices, dm targets), so Remove can find them after a crash.
	Devices map[string]string `json:"devices,omitempty"`
	// Reason says why this strategy was chosen (banger inspect, logs).
	Reason string `json:"reason,omitempty"`
}

// Provider makes and removes disks of one strategy.
type Provider interface {
	// Plan names the disk for req (Path, Devices) without side effects.
	// Strategy, Image, Size and Reason are filled in by the Manager.
	Plan(req Request) (Disk, error)
	// Create makes the disk. On error it leaves nothing behind.
	Create(ctx context.Context, d Disk) error
	// Remove deletes the disk and everything it holds; it is idempotent.
	Remove(ctx context.Context, d Disk) error
}

// Manager chooses strategies and makes disks.
type Manager struct {
	run       Runner
	providers map[Strategy]Provider
	mu        sync.Mutex
	caps      map[string]Capabilities
}

// Option configures a Manager.
type Option func(*Manager)

// WithRunner sets how commands run (default: exec, output in errors).
func WithRunner(r Runner) Option { return func(m *Manager) { m.run = r } }

// WithProvider adds or replaces the provider of a strategy; the daemon
// plugs in rootfs/dmsnap's as DMSnapshot where /dev/mapper/control exists.
func WithProvider(s Strategy, p Provider) Option {
	return func(m *Manager) { m.providers[s] = p }
}

// New returns a Manager with the reflink, qcow2 and copy providers.
func New(opts ...Option) *Manager {
	m := &Manager{run: ExecRunner{}, providers: map[Strategy]Provider{}, caps: map[string]Capabilities{}}
	for _, o := range opts {
		o(m)
	}
	for s, p := range map[Strategy]Provider{
		Reflink: fileProvider{strategy: Reflink, run: m.run},
		Copy:    fileProvider{strategy: Copy, run: m.run},
		QCOW2:   qcow2Provider{run: m.run},
	} {
		if _, ok := m.providers[s]; !ok {
			m.providers[s] = p
		}
	}
	return m
}

// Plan chooses the strategy and names the disk, without side effects.
func (m *Manager) Plan(req Request) (Disk, error) {
	fail := func(err error) (Disk, error) { return Disk{}, fmt.Errorf("vm %s: plan disk: %w", req.VMID, err) }
	if req.VMID == "" || req.Image == "" || req.Dir == "" {
		return fail(fmt.Errorf("%w: a disk request needs a VM id, an image and a directory", errdefs.ErrInvalid))
	}
	fi, err := os.Stat(req.Image)
	if err != nil {
		return fail(fmt.Errorf("image: %w", notFound(err)))
	}
	size := req.Size
	if size == 0 {
		size = fi.Size()
	}
	if size < fi.Size() {
		return fail(fmt.Errorf("%w: disk size %d bytes is smaller than the image's %d bytes", errdefs.ErrInvalid, size, fi.Size()))
	}
	s, reason, err := m.choose(req)
	if err != nil {
		return fail(err)
	}
	d, err := m.providers[s].Plan(req)
	if err != nil {
		return fail(err)
	}
	d.Strategy, d.Image, d.Size, d.Reason = s, req.Image, size, reason
	d.GrowFS = d.Format == "qcow2" && size > fi.Size()
	return d, nil
}

// Create makes a planned disk. On error nothing is left behind.
func (m *Manager) Create(ctx context.Context, d Disk) error {
	p, ok := m.providers[d.Strategy]
	if !ok {
		return fmt.Errorf("create disk %s: strategy %q: %w", d.Path, d.Strategy, errdefs.ErrUnsupported)
	}
	if err := p.Create(ctx, d); err != nil {
		return fmt.Errorf("create %s disk %s: %w", d.Strategy, d.Path, err)
	}
	return nil
}

// Remove deletes a disk; removing a disk that is gone is not an error.
func (m *Manager) Remove(ctx context.Context, d Disk) error {
	p, ok := m.providers[d.Strategy]
	if !ok {
		return fmt.Errorf("remove disk %s: strategy %q: %w", d.Path, d.Strategy, errdefs.ErrUnsupported)
	}
	if err := p.Remove(ctx, d); err != nil {
		return fmt.Errorf("remove %s disk %s: %w", d.Strategy, d.Path, err)
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
	}
	return err
}
