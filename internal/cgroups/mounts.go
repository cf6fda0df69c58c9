package cgroups

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bangerdev/banger/internal/procfs"
)

// Controllers are the controllers a VMM's group needs.
var Controllers = []string{"memory", "pids"}

// Host is where this host's memory and pids controllers are.
type Host struct {
	// Version is 2 (one unified hierarchy), 1 (a hierarchy per
	// controller) or 0 (no usable controllers: Why says why).
	Version int
	// Unified is the cgroup v2 mount point (Version 2).
	Unified string
	// V1 maps each controller to its cgroup v1 mount point (Version 1).
	V1 map[string]string
	// Why explains Version 0.
	Why string
}

// Mount is one cgroup file system mount from /proc/self/mountinfo.
type Mount struct {
	Point string
	// V2 is a cgroup2 mount; otherwise Options are the v1 super options
	// (they name the controllers: "rw,memory").
	V2      bool
	Options []string
}

// ParseMounts returns the cgroup and cgroup2 mounts in a mountinfo text
// (proc(5)), in file order. Lines it cannot read are skipped.
func ParseMounts(mountinfo string) []Mount {
	infos, _ := procfs.ParseMountinfo(strings.NewReader(mountinfo))
	var out []Mount
	for _, mi := range infos {
		switch mi.FSType {
		case "cgroup2":
			out = append(out, Mount{Point: mi.Point, V2: true})
		case "cgroup":
			out = append(out, Mount{Point: mi.Point, Options: mi.SuperOptions})
		}
	}
	return out
}

// Choose decides where the controllers are, from the mounts and a reader
// of a cgroup v2 mount's cgroup.controllers. A v2 hierarchy that offers
// both controllers wins; else v1 hierarchies of both; else Version 0 with
// the reason.
func Choose(mounts []Mount, controllersOf func(point string) ([]string, error)) Host {
	var why []string
	for _, m := range mounts {
		if !m.V2 {
			continue
		}
		have, err := controllersOf(m.Point)
		if err != nil {
			why = append(why, fmt.Sprintf("cgroup v2 at %s: %v", m.Point, err))
			continue
		}
		if missing := without(Controllers, have); len(missing) > 0 {
			why = append(why, fmt.Sprintf("cgroup v2 at %s offers %s, not %s", m.Point, listOr(have, "no controllers"), strings.Join(missing, "+")))
			continue
		}
		return Host{Version: 2, Unified: m.Point}
	}
	v1 := map[string]string{}
	for _, m := range mounts {
		for _, c := range Controllers {
			if !m.V2 && slices.Contains(m.Options, c) && v1[c] == "" {
				v1[c] = m.Point
			}
		}
	}
	if len(v1) == len(Controllers) {
		return Host{Version: 1, V1: v1}
	}
	if len(mounts) == 0 {
		why = append(why, "no cgroup file system is mounted")
	} else if len(v1) > 0 {
		why = append(why, "cgroup v1 has "+strings.Join(keys(v1), "+")+" but not "+strings.Join(without(Controllers, keys(v1)), "+"))
	}
	return Host{Why: "no cgroup hierarchy with the memory and pids controllers: " + strings.Join(why, "; ")}
}

func without(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for _, c := range Controllers {
		if _, ok := m[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, "+")
}
