package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/keylock"
	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The strategies.
const (
	Auto       = "auto"
	DMSnapshot = "dm-snapshot"
	Reflink    = "reflink"
	QCOW2      = "qcow2"
	Copy       = "copy"
)

// Request is one VM's disk.
type Request struct {
	VMID string
	// Image is the read-only ext4 image; ImageSize its size.
	Image     string
	ImageSize int64
	// Dir is the VM's persistent directory, where the disk file goes.
	Dir string
	// SizeBytes, when larger than the image, is the disk's size: the disk
	// is made from the image grown to it (see sized.go); sparse, so only
	// what the guest writes costs space.
	SizeBytes int64
	// QCOW2 says the VMM opens qcow2 drives (its capabilities say so).
	// Without it a copy-on-write disk needs device-mapper or reflinks.
	QCOW2 bool
	// Strategy is the configured one (vm.disk_strategy); "" means auto.
	Strategy string
}

func (r Request) grows() bool { return r.SizeBytes&^4095 > r.ImageSize }

// Disk is a VM's disk as its VMM sees it.
type Disk struct {
	// Path is the file or block device.
	Path string `json:"path"`
	// Format is "raw" or "qcow2".
	Format   string `json:"format"`
	Strategy string `json:"strategy"`
	// DM holds the dm-snapshot names (runtime objects), when used.
	DM *dmsnap.Names `json:"dm,omitempty"`
}

// runner runs one command line; tests replace it.
type runner interface {
	Run(ctx context.Context, argv []string) ([]byte, error)
}

type execRunner struct{}

func (execRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
}

// Manager creates and removes disks.
type Manager struct {
	run   runner
	dm    *dmsnap.Manager
	caps  func(dir string) Capabilities
	sized keylock.Set // serializes the making of one sized image
}

// New returns a Manager on the host.
func New() *Manager {
	return &Manager{run: execRunner{}, dm: dmsnap.New(), caps: Probe}
}

// Choose picks the strategy for req on a host with caps.
func Choose(req Request, caps Capabilities) (string, error) {
	want := req.Strategy
	if want == "" {
		want = Auto
	}
	if want != Auto {
		if err := caps.allows(want, req); err != nil {
			return "", err
		}
		return want, nil
	}
	switch {
	// A VMM that opens qcow2 gets its copy-on-write from an overlay file;
	// one that does not (Firecracker) from device-mapper when the host
	// has it. Reflinks beat both where the file system has them.
	case caps.DM == nil && !req.QCOW2:
		return DMSnapshot, nil
	case caps.Reflink == nil:
		return Reflink, nil
	case req.QCOW2 && caps.QemuImg == nil:
		return QCOW2, nil
	default:
		return Copy, nil
	}
}

// DiskPath is where a strategy puts a VM's disk file in dir.
func DiskPath(dir, strategy string) string {
	switch strategy {
	case QCOW2:
		return filepath.Join(dir, "disk.qcow2")
	case DMSnapshot:
		return filepath.Join(dir, "disk.cow")
	default:
		return filepath.Join(dir, "disk.raw")
	}
}

// Create makes req's disk by strategy (from Choose). record receives the
// disk (its path and strategy) before anything is created, so the caller
// can write it down first. On error nothing new is left.
func (m *Manager) Create(ctx context.Context, req Request, strategy string, record func(Disk) error) (Disk, error) {
	image, err := m.sizedImage(ctx, req)
	if err != nil {
		return Disk{}, err
	}
	req.Image, req.ImageSize = image, req.size()
	path := DiskPath(req.Dir, strategy)
	d := Disk{Path: path, Format: "raw", Strategy: strategy}
	if strategy == QCOW2 {
		d.Format = "qcow2"
	}
	if err := record(d); err != nil {
		return Disk{}, err
	}
	fail := func(step string, err error) (Disk, error) {
		_ = os.Remove(path)
		return Disk{}, fsutil.NoSpace(fmt.Errorf("vm %s disk (%s): %s: %w", req.VMID, strategy, step, err), path)
	}
	switch strategy {
	case DMSnapshot:
		return m.Activate(ctx, req, record)
	case QCOW2:
		if out, err := m.run.Run(ctx, qcow2Argv(req.Image, path)); err != nil {
			return fail("qemu-img create", cmdErr(err, out))
		}
		return d, nil
	case Reflink:
		if err := reflink(req.Image, path); err != nil {
			return fail("reflink", err)
		}
	case Copy:
		if err := sparseCopy(req.Image, path); err != nil {
			return fail("copy", err)
		}
	default:
		return Disk{}, fmt.Errorf("%w: disk strategy %q", errdefs.ErrInvalid, strategy)
	}
	return d, nil
}

// size is the disk's size: the request's when it grows the image, else
// the image's.
func (r Request) size() int64 {
	if r.grows() {
		return r.SizeBytes &^ 4095 // whole file system blocks
	}
	return r.ImageSize
}

// Activate brings up a dm-snapshot disk's runtime objects (at every start;
// the COW file persists).
func (m *Manager) Activate(ctx context.Context, req Request, record func(Disk) error) (Disk, error) {
	image, err := m.sizedImage(ctx, req)
	if err != nil {
		return Disk{}, err
	}
	plan, err := dmsnap.NewPlan(dmsnap.Spec{VMID: req.VMID, Image: image, ImageSize: req.size(), COW: DiskPath(req.Dir, DMSnapshot)})
	if err != nil {
		return Disk{}, err
	}
	var d Disk
	dd, err := m.dm.Create(ctx, plan, func(n dmsnap.Names) error {
		d = Disk{Path: plan.Path(), Format: "raw", Strategy: DMSnapshot, DM: &n}
		return record(d)
	})
	if err != nil {
		return Disk{}, err
	}
	d.Path = dd.Path
	return d, nil
}

// Deactivate releases a VM's dm-snapshot runtime objects (at stop); the
// COW file stays. It is a no-op for the other strategies.
func (m *Manager) Deactivate(ctx context.Context, vmID string) error {
	if dmsnap.Available() != nil {
		return nil
	}
	return m.dm.Remove(ctx, vmID)
}

// Remove deletes a VM's disk for good (rm), whatever its strategy.
func (m *Manager) Remove(ctx context.Context, vmID, dir string) error {
	errs := []error{m.Deactivate(ctx, vmID)}
	for _, s := range []string{Reflink, QCOW2, DMSnapshot} {
		if err := os.Remove(DiskPath(dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// qcow2Argv creates an overlay backed by the raw image.
func qcow2Argv(image, path string) []string {
	return []string{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", image, path}
}

func cmdErr(err error, out []byte) error {
	if len(out) > 0 {
		return fmt.Errorf("%w: %s", err, lastLine(out))
	}
	return err
}

func lastLine(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}

// Probe finds what dir supports (see the package function Probe); tests
// replace it.
func (m *Manager) Probe(dir string) Capabilities { return m.caps(dir) }

// Existing finds a disk a strategy made in dir, from its file name alone
// (for a VM whose runtime record was lost). A dm-snapshot disk comes back
// without its devices: Activate brings them up.
func Existing(dir string) (Disk, bool) {
	for _, d := range []Disk{
		{Strategy: QCOW2, Format: "qcow2"},
		{Strategy: DMSnapshot, Format: "raw"},
		{Strategy: Copy, Format: "raw"},
	} {
		d.Path = DiskPath(dir, d.Strategy)
		if fi, err := os.Stat(d.Path); err == nil && fi.Mode().IsRegular() {
			return d, true
		}
	}
	return Disk{}, false
}
