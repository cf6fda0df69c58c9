package vmmtest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/proc"
)

// EnvTestOwner marks the VMMs a test binary starts with the binary's
// identity (pid:start time). VMMs inherit it through the environment.
const EnvTestOwner = "BANGER_TEST_OWNER"

// Main runs a backend package's tests. VMMs deliberately outlive the process
// that starts them (a daemon restart must not kill VMs), so a test binary
// that dies without running its cleanups — a timeout panic, a SIGKILL —
// would leak them. Main marks this binary as the owner of the VMMs it
// starts and first kills VMMs whose owning test binary is gone.
//
//	func TestMain(m *testing.M) { os.Exit(vmmtest.Main(m)) }
func Main(m *testing.M) int {
	if self, err := proc.Lookup(os.Getpid()); err == nil {
		_ = os.Setenv(EnvTestOwner, fmt.Sprintf("%d:%d", self.PID, self.StartTime))
	}
	sweepOrphans()
	return m.Run()
}

// sweepOrphans kills processes carrying EnvTestOwner whose owner is gone.
func sweepOrphans() {
	owned, err := proc.EnvPrefixed(EnvTestOwner)
	if err != nil {
		return
	}
	for pid, owner := range owned {
		if pid == os.Getpid() || ownerAlive(owner) {
			continue
		}
		if id, err := proc.Lookup(pid); err == nil {
			fmt.Fprintf(os.Stderr, "vmmtest: killing process %d left by dead test binary %s\n", pid, owner)
			_ = id.Kill(5 * time.Second)
		}
	}
}

func ownerAlive(owner string) bool {
	p, st, ok := strings.Cut(owner, ":")
	pid, err1 := strconv.Atoi(p)
	start, err2 := strconv.ParseUint(st, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return true // not ours to judge
	}
	cur, err := proc.Lookup(pid)
	return err == nil && cur.StartTime == start
}
