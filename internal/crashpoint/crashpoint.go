// Package crashpoint kills the process at named points, so tests can prove
// that a daemon killed at any line that creates or releases a host
// resource leaves nothing a restart cannot find and release.
//
// A package declares its points once, as package variables:
//
//	var cpDiskMade = crashpoint.New("vms/disk/made", crashpoint.Run)
//
// and calls cpDiskMade.Hit() where the process may die. When the
// environment variable BANGER_CRASHPOINT equals a point's name, the first
// Hit of that point SIGKILLs the process (no deferred function, no
// cleanup: what a power cut or the OOM killer does). Otherwise Hit costs a
// comparison with an empty string: the variable is read once, at start.
//
// All lists every point the program declares, with the operation that
// reaches it, so the crash matrix (internal/e2e/crash) enumerates them
// instead of keeping a second list.
package crashpoint

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Env names the point a process dies at.
const Env = "BANGER_CRASHPOINT"

// Op is the user operation (a CLI command) that reaches a point; the crash
// matrix drives the operation to hit the point.
type Op string

// The operations that reach points.
const (
	// Create is `banger create`.
	Create Op = "create"
	// Run is `banger run -d` (create and start).
	Run Op = "run"
	// RunRm is `banger run --rm` of a command that ends by itself.
	RunRm Op = "run --rm"
	// RunNetns is `banger run -d --network netns:PATH` (a namespace the
	// crash matrix made); RemoveNetns is `banger rm -f` of such a VM.
	RunNetns    Op = "run --network netns"
	RemoveNetns Op = "rm --network netns"
	// Stop is `banger stop` of a running VM.
	Stop Op = "stop"
	// Remove is `banger rm -f` of a running VM.
	Remove Op = "rm"
	// Reconcile is a daemon start that finds a VM whose VMM died while no
	// daemon ran.
	Reconcile Op = "reconcile"
	// Checkpoint is `banger checkpoint` of a running VM.
	Checkpoint Op = "checkpoint"
	// Fork is `banger run -d --from` of a checkpoint.
	Fork Op = "run --from"
	// ImageImport is `banger image import`.
	ImageImport Op = "image import"
	// ImagePull is `banger image pull`.
	ImagePull Op = "image pull"
	// KernelImport is `banger kernel import PATH`.
	KernelImport Op = "kernel import"
	// KernelUpload is `banger kernel import --upload PATH`.
	KernelUpload Op = "kernel import --upload"
	// NetworkCreate is `banger network create`; NetworkRemove is
	// `banger network rm` of a network no VM is on.
	NetworkCreate Op = "network create"
	NetworkRemove Op = "network rm"
)

// Point is a place where the process may be told to die.
type Point struct {
	name string
	op   Op
}

// Info describes a declared point.
type Info struct {
	Name string
	Op   Op
}

var (
	// armed is the point this process dies at ("" for none), read once.
	armed = os.Getenv(Env)
	// kill ends the process; tests of this package replace it.
	kill = func(name string) {
		// Say where, for the test reading the log, then die at once.
		fmt.Fprintf(os.Stderr, "crashpoint %s: SIGKILL\n", name)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is delivered before anything else runs
	}

	mu     sync.Mutex
	points = map[string]*Point{}
)

var nameRE = regexp.MustCompile(`^[a-z0-9-]+(/[a-z0-9-]+)+$`)

// New declares a point: name is "package/where" (lowercase, slashes), op
// the operation that reaches it. It panics on a malformed or duplicate
// name: points are package variables, so that is a programming error
// found at start.
func New(name string, op Op) *Point {
	if !nameRE.MatchString(name) {
		panic(fmt.Sprintf("crashpoint %q: want package/where, lowercase", name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := points[name]; dup {
		panic(fmt.Sprintf("crashpoint %q declared twice", name))
	}
	p := &Point{name: name, op: op}
	points[name] = p
	return p
}

// Name is the point's name.
func (p *Point) Name() string { return p.name }

// Hit kills the process when it is armed at p.
func (p *Point) Hit() {
	if armed != "" && armed == p.name {
		kill(p.name)
	}
}

// After is Hit when err is nil (the step before it succeeded), and
// returns err: `return cpRecorded.After(rec.Save())`.
func (p *Point) After(err error) error {
	if err == nil {
		p.Hit()
	}
	return err
}

// All lists the declared points, by name.
func All() []Info {
	mu.Lock()
	defer mu.Unlock()
	out := make([]Info, 0, len(points))
	for _, p := range points {
		out = append(out, Info{Name: p.name, Op: p.op})
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}
