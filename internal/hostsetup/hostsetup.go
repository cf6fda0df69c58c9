// Package hostsetup prepares a host for banger, once and as root: the
// group whose members may use the daemon's socket, the unprivileged user
// QEMU runs as (added to the kvm group when there is one, for /dev/kvm),
// and the daemon's directories. `banger setup` runs it; running it again
// changes nothing.
//
// As everywhere in banger the privileged work is data: Observe reads what
// exists, Plan (a pure function) lists the steps — groupadd/useradd/usermod
// argv and directories — and Run executes them through a small runner
// tests replace.
package hostsetup

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"sort"
	"strings"

	"github.com/bangerdev/banger/internal/paths"
)

// Inputs are what the host should have.
type Inputs struct {
	// SocketGroup owns the API socket (config daemon.socket_group); empty
	// means none.
	SocketGroup string
	// VMMUser is the user QEMU runs as (config qemu.user); empty means
	// none.
	VMMUser string
	// Layout is the daemon's directories.
	Layout paths.Layout
}

// Host is what exists.
type Host struct {
	Groups map[string]bool
	// Users maps an existing user to its groups (primary and
	// supplementary, by name).
	Users map[string][]string
	// Dirs are the layout's directories that exist.
	Dirs map[string]bool
}

// kvmGroup owns /dev/kvm on Debian and most distributions.
const kvmGroup = "kvm"

// Step is one change.
type Step struct {
	// Desc says what the step does, as the user reads it.
	Desc string `json:"desc"`
	// Argv is the command that does it, or nil for a directory.
	Argv []string `json:"argv,omitempty"`
	// Dir is a directory to make with Mode (when Argv is nil).
	Dir  string      `json:"dir,omitempty"`
	Mode os.FileMode `json:"mode,omitempty"`
}

// Plan lists the steps that bring h to in, in order; none when it is
// there already.
func Plan(in Inputs, h Host) []Step {
	var steps []Step
	if g := in.SocketGroup; g != "" && !h.Groups[g] {
		steps = append(steps, Step{
			Desc: fmt.Sprintf("create group %s (its members may use the daemon's socket)", g),
			Argv: []string{"groupadd", "--system", g},
		})
	}
	if u := in.VMMUser; u != "" {
		groups, exists := h.Users[u]
		if !exists {
			steps = append(steps, Step{
				Desc: fmt.Sprintf("create user %s (QEMU runs as it: no login, no home)", u),
				Argv: []string{"useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", u},
			})
		}
		if h.Groups[kvmGroup] && !slices.Contains(groups, kvmGroup) {
			steps = append(steps, Step{
				Desc: fmt.Sprintf("add user %s to group %s (to open /dev/kvm)", u, kvmGroup),
				Argv: []string{"usermod", "--append", "--groups", kvmGroup, u},
			})
		}
	}
	dirs := in.Layout.Dirs()
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		if d != "" {
			names = append(names, d)
		}
	}
	sort.Strings(names) // parents before children
	for _, d := range names {
		if !h.Dirs[d] {
			steps = append(steps, Step{Desc: fmt.Sprintf("create directory %s (mode %#o)", d, dirs[d]), Dir: d, Mode: dirs[d]})
		}
	}
	return steps
}

// Observe reads what exists of what in asks for.
func Observe(in Inputs) Host {
	h := Host{Groups: map[string]bool{}, Users: map[string][]string{}, Dirs: map[string]bool{}}
	for _, g := range []string{in.SocketGroup, kvmGroup} {
		if _, err := user.LookupGroup(g); g != "" && err == nil {
			h.Groups[g] = true
		}
	}
	if in.VMMUser != "" {
		if u, err := user.Lookup(in.VMMUser); err == nil {
			var names []string
			ids, _ := u.GroupIds()
			for _, id := range ids {
				if g, err := user.LookupGroupId(id); err == nil {
					names = append(names, g.Name)
				}
			}
			h.Users[in.VMMUser] = names
		}
	}
	for d := range in.Layout.Dirs() {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			h.Dirs[d] = true
		}
	}
	return h
}

// Runner runs one command (tests replace it).
type Runner func(ctx context.Context, argv []string) error

// ExecRunner runs argv and returns its output in the error when it fails.
func ExecRunner(ctx context.Context, argv []string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput() //nolint:gosec // argv from Plan
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Run executes the steps in order and stops at the first failure.
func Run(ctx context.Context, steps []Step, run Runner) error {
	for _, s := range steps {
		var err error
		if s.Argv != nil {
			err = run(ctx, s.Argv)
		} else {
			err = os.MkdirAll(s.Dir, s.Mode)
		}
		if err != nil {
			return fmt.Errorf("setup: %s: %w", s.Desc, err)
		}
	}
	return nil
}
