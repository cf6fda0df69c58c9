package firecracker

import (
	"context"
	"fmt"

	"github.com/bangerdev/banger/internal/vmm"
)

var _ vmm.Confiner = (*Backend)(nil)

// Confinement implements vmm.Confiner: the jailer confines Firecracker
// (a chroot per VM, namespaces, a cgroup, the jail user's ids) when one
// is configured or found; without it Firecracker runs as the daemon's
// root.
func (b *Backend) Confinement(context.Context) vmm.ConfinementStatus {
	j := b.opts.Jail
	switch {
	case j == nil:
		return vmm.ConfinementStatus{Summary: "none: no jailer configured or found in PATH; firecracker runs as root"}
	case j.IDsErr != nil:
		return vmm.ConfinementStatus{
			Summary: "jailer " + j.Binary,
			Missing: []string{j.IDsErr.Error()},
			Refused: true,
		}
	}
	who := fmt.Sprintf("uid %d gid %d", j.UID, j.GID)
	if j.UID == 0 {
		who += " (root: set [firecracker] user or uid and gid for an unprivileged one)"
	}
	return vmm.ConfinementStatus{
		InForce: true,
		Summary: fmt.Sprintf("jailer %s: a chroot under %s in its own mount namespace, a cgroup v2 group, %s", j.Binary, j.ChrootBase, who),
	}
}
