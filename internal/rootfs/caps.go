package rootfs

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Capabilities say which strategies work here; nil means yes, an error
// says why not.
type Capabilities struct {
	Reflink error
	QemuImg error
	DM      error
}

// Probe finds what dir (the daemon's data directory) supports: reflink by
// cloning a small temp file there, qemu-img by looking it up, dm-snapshot
// by dmsnap.Available.
func Probe(dir string) Capabilities {
	c := Capabilities{Reflink: probeReflink(dir), DM: dmsnap.Available()}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		c.QemuImg = fmt.Errorf("%w: qemu-img not found (install qemu-utils)", errdefs.ErrUnavailable)
	}
	return c
}

func probeReflink(dir string) error {
	src, err := os.CreateTemp(dir, ".reflink-probe-")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(src.Name()) }()
	defer func() { _ = src.Close() }()
	if _, err := src.Write(make([]byte, 4096)); err != nil {
		return err
	}
	dst := src.Name() + ".clone"
	defer func() { _ = os.Remove(dst) }()
	if err := reflink(src.Name(), dst); err != nil {
		return fmt.Errorf("%w: %s does not support reflinks (%w); XFS or btrfs does", errdefs.ErrUnsupported, dir, err)
	}
	return nil
}

// allows says whether strategy can serve req here.
func (c Capabilities) allows(strategy string, req Request) error {
	switch strategy {
	case Reflink:
		return c.Reflink
	case QCOW2:
		if !req.QCOW2 {
			return fmt.Errorf("%w: this VMM does not open qcow2 drives; use the reflink, copy or dm-snapshot strategy", errdefs.ErrUnsupported)
		}
		return c.QemuImg
	case DMSnapshot:
		return c.DM
	case Copy:
		return nil
	default:
		return fmt.Errorf("%w: disk strategy %q: want auto, dm-snapshot, reflink, qcow2 or copy", errdefs.ErrInvalid, strategy)
	}
}

// Checks describes the capabilities for `banger doctor`.
func (c Capabilities) Checks() []Check {
	say := func(err error, yes string) (bool, string) {
		if err != nil {
			return false, err.Error()
		}
		return true, yes
	}
	var out []Check
	ok, d := say(c.Reflink, "the data directory supports FICLONE")
	out = append(out, Check{"reflink", ok, d})
	ok, d = say(c.QemuImg, "qemu-img found")
	out = append(out, Check{"qcow2", ok, d})
	return out
}

// Check is one capability, for reports.
type Check struct {
	Name   string
	OK     bool
	Detail string
}
