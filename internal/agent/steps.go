package agent

import (
	"fmt"
	"strings"
	"time"

	"github.com/bangerdev/banger/internal/agent/initplan"
	"github.com/bangerdev/banger/internal/agent/netplan"
	"github.com/bangerdev/banger/internal/bootcfg"
)

// edge is PID 1's privileged calls: the guest's kernel in a VM (linuxEdge),
// a recorder in tests. The steps below say what to call, in which order.
type edge interface {
	SetClock(now time.Time) error
	// AddEntropy credits seed to the kernel's pool (RNDADDENTROPY).
	AddEntropy(seed []byte) error
	// ReseedCRNG makes the kernel's CRNG take a new key from its pool
	// now (RNDRESEEDCRNG), not at its next scheduled reseed.
	ReseedCRNG() error
	RemountRootRW() error
	// APIFileSystems mounts what is missing of /proc, /sys, /dev, /run
	// and makes the image's /tmp (initplan.Stage2).
	APIFileSystems() error
	Hostname(name string) error
	Network(ops []netplan.Op) error
	ResolvConf(content []byte) error
	GrowRoot() error
	Mount(p initplan.Plan) error
	Volumes(ms []bootcfg.Mount) error
}

// step is one of PID 1's duties; run wraps its error with what failed.
type step struct {
	name string
	run  func() error
}

// bootSteps are a boot's duties from its own config (not held), entropy
// first: an SSH handshake needs it (docs/architecture.md, the entropy
// trap). The volumes come after, in stage2, which stops on their error.
func bootSteps(cfg bootcfg.Config, e edge) []step {
	var steps []step
	if len(cfg.EntropySeed) > 0 {
		steps = append(steps, step{"entropy", wrap("entropy seed", func() error { return e.AddEntropy(cfg.EntropySeed) })})
	}
	return append(steps, identitySteps(cfg, netplan.Plan(cfg.Network), e)...)
}

// applySteps are a held boot's apply, in the order that makes a restored
// guest this VM: the host's clock, a fresh random state (renewSteps); the
// root writable (it was the image's, read-only, while held); the API file
// systems a read-only root kept from being complete; then what a boot
// does — with the NIC given this VM's MAC first (netplan.HeldPlan) — and
// the volumes.
func applySteps(cfg bootcfg.Config, now time.Time, e edge) []step {
	steps := append(renewSteps(cfg, now, e),
		step{"remount", wrap("remount / read-write", e.RemountRootRW)},
		step{"api", wrap("API file systems", e.APIFileSystems)},
	)
	steps = append(steps, identitySteps(cfg, netplan.HeldPlan(cfg.Network), e)...)
	return append(steps, step{"volumes", func() error { return e.Volumes(cfg.Mounts) }})
}

// reidentifySteps make a running guest restored from another VM's
// checkpoint (a fork) the config's VM: the host's clock and a fresh
// random state (renewSteps), then its name and network — the NIC
// flushed of the source's addresses and routes and given this VM's MAC
// first (netplan.ReidentifyPlan). Nothing else a boot does: the root is
// writable and grown, tmpfs and volumes are mounted, the processes run.
func reidentifySteps(cfg bootcfg.Config, now time.Time, e edge) []step {
	return append(renewSteps(cfg, now, e), namingSteps(cfg, netplan.ReidentifyPlan(cfg.Network), e)...)
}

// renewSteps make a guest restored from a snapshot current: the host's
// clock; the config's fresh seed credited and the CRNG rekeyed before
// anything else draws random bytes (every guest restored from one
// snapshot had the same CRNG state).
func renewSteps(cfg bootcfg.Config, now time.Time, e edge) []step {
	return []step{
		{"clock", wrap("set the clock", func() error { return e.SetClock(now) })},
		{"entropy", wrap("entropy seed", func() error { return e.AddEntropy(cfg.EntropySeed) })},
		{"reseed", wrap("reseed the CRNG", e.ReseedCRNG)},
	}
}

// identitySteps make the guest this VM: its name and network
// (namingSteps), the root grown, tmpfs.
func identitySteps(cfg bootcfg.Config, ops []netplan.Op, e edge) []step {
	steps := namingSteps(cfg, ops, e)
	if cfg.GrowRoot {
		steps = append(steps, step{"grow", e.GrowRoot})
	}
	if len(cfg.Tmpfs) > 0 {
		steps = append(steps, step{"tmpfs", func() error { return e.Mount(initplan.Tmpfs(cfg.Tmpfs)) }})
	}
	return steps
}

// namingSteps give the guest this VM's name and network: hostname,
// network (ops), resolv.conf.
func namingSteps(cfg bootcfg.Config, ops []netplan.Op, e edge) []step {
	var steps []step
	if cfg.Hostname != "" {
		steps = append(steps, step{"hostname", wrap("hostname", func() error { return e.Hostname(cfg.Hostname) })})
	}
	steps = append(steps, step{"network", func() error { return e.Network(ops) }})
	if content := netplan.ResolvConf(cfg.Network); content != nil {
		steps = append(steps, step{"resolv.conf", wrap("resolv.conf", func() error { return e.ResolvConf(content) })})
	}
	return steps
}

func wrap(what string, f func() error) func() error {
	return func() error {
		if err := f(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
}

// runAll runs every step and returns every failure: a boot goes on after
// them (a half-configured guest still serves exec, to debug it).
func runAll(steps []step) []error {
	var errs []error
	for _, s := range steps {
		if err := s.run(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// runUntilError runs the steps until one fails: an apply then fails, and
// the host fails the start with its error rather than run a guest that is
// part its snapshot's and part this VM.
func runUntilError(steps []step) error {
	_, err := runTimed(steps)
	return err
}

// runTimed is runUntilError that also says how long each step took
// ("clock 0ms, entropy 1ms, …"): an apply's time is most of a restore's,
// and the console line shows where it went.
func runTimed(steps []step) (string, error) {
	var took []string
	for _, s := range steps {
		t0 := time.Now()
		if err := s.run(); err != nil {
			return strings.Join(took, ", "), err
		}
		took = append(took, fmt.Sprintf("%s %dms", s.name, time.Since(t0).Milliseconds()))
	}
	return strings.Join(took, ", "), nil
}
