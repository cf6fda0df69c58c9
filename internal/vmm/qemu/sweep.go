package qemu

import (
	"strings"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/vmm"
)

var _ vmm.Sweeper = (*Backend)(nil)

// cgroupPrefix starts every VM's cgroup name; the VM's id follows.
const cgroupPrefix = "vm-"

// Owned implements vmm.Sweeper: the VM cgroups under the configured
// parent, in every hierarchy.
func (b *Backend) Owned() ([]vmm.Owned, error) {
	kids, err := b.cgroups()
	if err != nil {
		return nil, err
	}
	var out []vmm.Owned
	for name, dirs := range kids {
		id, ok := strings.CutPrefix(name, cgroupPrefix)
		if !ok {
			continue
		}
		for _, d := range dirs {
			out = append(out, vmm.Owned{Kind: "cgroup", Name: d, VMID: id})
		}
	}
	return out, nil
}

// Sweep implements vmm.Sweeper: it removes VM id's cgroup, which the
// handles name too but a lost record would not.
func (b *Backend) Sweep(id string) error {
	kids, err := b.cgroups()
	if err != nil {
		return err
	}
	return cgroups.Remove(kids[cgroupPrefix+id])
}

// cgroups lists the groups under the cgroup parent: none when QEMU is not
// confined or the host has no usable cgroups (none were made then).
func (b *Backend) cgroups() (map[string][]string, error) {
	h := cgroups.Detect()
	if b.opts.confine == nil || h.Version == 0 {
		return nil, nil
	}
	return cgroups.Children(h, b.opts.confine.CgroupParent)
}
