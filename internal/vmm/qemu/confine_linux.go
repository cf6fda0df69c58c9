package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/vmm"
)

// gatherFacts reads what the host offers for confinement: the user and its
// groups, setpriv, QEMU's seccomp support (asked once per backend), the
// cgroup controllers and whether the parent can be written.
func (b *Backend) gatherFacts(ctx context.Context, bin string) confineFacts {
	c := b.opts.confine
	f := confineFacts{Cgroups: cgroups.Detect(), OverflowGID: overflowGID()}
	if u, err := lookupUser(c.User); err != nil {
		f.UserErr = err.Error()
	} else {
		f.User = u
	}
	f.Setpriv, _ = exec.LookPath("setpriv")
	f.SandboxErr = b.sandboxSupport(ctx, bin)
	if plan, err := cgroups.PlanFor(f.Cgroups, c.CgroupParent, "check", cgroups.Limits{MemoryBytes: 1, Pids: 1}); err == nil {
		f.CgroupErr = cgroups.Check(plan)
	}
	return f
}

// lookupUser resolves a user and its supplementary groups; root is
// refused, as it would confine nothing.
func lookupUser(name string) (*userIDs, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("does not exist")
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("ids %s:%s are not numbers", u.Uid, u.Gid)
	}
	if uid == 0 {
		return nil, fmt.Errorf("is root, which confines nothing")
	}
	ids := &userIDs{UID: uid, GID: gid}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			ids.Groups = append(ids.Groups, n)
		}
	}
	return ids, nil
}

// overflowGID is the kernel's overflow gid (65534 unless changed).
func overflowGID() int {
	b, err := os.ReadFile("/proc/sys/kernel/overflowgid")
	if n, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil {
		return n
	}
	return 65534
}

// sandboxSupport asks QEMU once whether it takes -sandbox: a binary built
// without seccomp rejects the option while parsing, before -version.
func (b *Backend) sandboxSupport(ctx context.Context, bin string) error {
	b.sandboxOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-sandbox", sandboxOpts, "-version").CombinedOutput()
		if err != nil {
			b.sandboxErr = fmt.Errorf("%s -sandbox: %w: %s", bin, err, strings.TrimSpace(tail(out, 1)))
		}
	})
	return b.sandboxErr
}

// Confinement implements vmm.Confiner: what a VM started now would get.
func (b *Backend) Confinement(ctx context.Context) vmm.ConfinementStatus {
	if b.opts.confine == nil {
		return vmm.ConfinementStatus{Summary: "off: qemu runs as root ([qemu] user is empty)"}
	}
	bin, err := exec.LookPath(b.opts.binary)
	if err != nil {
		return vmm.ConfinementStatus{Summary: "unknown: " + b.opts.binary + " not found"}
	}
	return planConfinement(*b.opts.confine, b.gatherFacts(ctx, bin), "check", 1, 512).status
}
