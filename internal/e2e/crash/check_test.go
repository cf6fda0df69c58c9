package crash

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/pkg/api"
)

// view is a lab as its daemon and the host see it.
type view struct {
	VMs     map[string]api.VM
	Objs    []api.HostObject
	GC      []api.HostObject
	Images  []string // ids
	Kernels []string // names
	Host    hostState
}

// look asks the daemon (ps -a, the inventory, image and kernel ls, gc
// --dry-run) and scans the host. ids collects every VM id seen.
func (l *lab) look(t *testing.T, ids map[string]bool) view {
	t.Helper()
	v := view{VMs: map[string]api.VM{}}
	for _, vm := range mustJSON[[]api.VM](t, l, "ps", "-a") {
		v.VMs[vm.ID] = vm
		ids[vm.ID] = true
	}
	for _, d := range entries(l.layout.VMs()) {
		ids[d] = true
	}
	v.Objs = l.inventory(t)
	v.GC = mustJSON[api.GCReport](t, l, "gc", "--dry-run").Objects
	for _, img := range mustJSON[[]api.Image](t, l, "image", "ls") {
		v.Images = append(v.Images, img.ID)
	}
	for _, k := range mustJSON[[]api.Kernel](t, l, "kernel", "ls") {
		v.Kernels = append(v.Kernels, k.Name)
	}
	v.Host = l.scanHost(t, ids)
	return v
}

// vmObjs is the inventory without the boot snapshots, which belong to
// the store and outlive every VM.
func (v view) vmObjs() []api.HostObject {
	var out []api.HostObject
	for _, o := range v.Objs {
		if o.Kind != "snapshot" {
			out = append(out, o)
		}
	}
	return out
}

// runtimeKinds are the inventory kinds a VM holds only while it runs.
var runtimeKinds = []string{"process", "runtime-dir", "tap", "nft-rule", "netns-tap"}

// leaks lists every way the view is not consistent: a host object no VM
// explains or a stopped VM still holds (by the inventory and by the host
// scan, each on its own), a running VM missing its VMM, tap or lease, two
// VMs on one address, scratch files, image or kernel files no record
// names, and anything gc --dry-run would remove.
func (v view) leaks() []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	running := func(id string) bool { vm, ok := v.VMs[id]; return ok && vm.State == api.VMRunning }

	ips := map[string]string{}
	for _, o := range v.Objs {
		_, known := v.VMs[o.Owner]
		switch {
		case o.Kind == "snapshot" || o.Kind == "checkpoint" || (o.Kind == networks.KindBridge && o.Owner != ""):
			// A boot snapshot or a checkpoint is its store's, not a VM's:
			// not a leak (a half-saved one is a snapshot-dir or a
			// checkpoint-dir, which is); nor is a network's bridge that
			// its record names (one no record names gc reports).
		case !known:
			bad("inventory: %s %s of vm %s, which has no record", o.Kind, o.Name, o.Owner)
		case slices.Contains(runtimeKinds, o.Kind) && !running(o.Owner):
			bad("inventory: %s %s of vm %s, which is %s", o.Kind, o.Name, o.Owner, v.VMs[o.Owner].State)
		}
		if o.Kind == "lease" {
			if other, dup := ips[o.Name]; dup {
				bad("address %s leased to vms %s and %s", o.Name, other, o.Owner)
			}
			ips[o.Name] = o.Owner
		}
	}
	for _, o := range v.GC {
		bad("gc --dry-run: %s %s (owner %s)", o.Kind, o.Name, o.Owner)
	}

	h := v.Host
	for id, pids := range h.VMMs {
		if !running(id) {
			bad("host: VMM process %v of vm %s, which is %s", pids, id, stateOf(v, id))
		}
	}
	owners := func(kind string, names []string, owner func(string) string) {
		for _, n := range names {
			if id := owner(n); !running(id) {
				bad("host: %s %s of vm %s, which is %s", kind, n, id, stateOf(v, id))
			}
		}
	}
	owners("tap", h.Taps, func(n string) string { return strings.TrimPrefix(n, "bg-") })
	owners("tap in the pod namespace", h.PodTaps, func(n string) string { return strings.TrimPrefix(n, "bg-") })
	podRunning := slices.ContainsFunc(h.PodTaps, func(n string) bool { return running(strings.TrimPrefix(n, "bg-")) })
	for _, l := range h.PodFilters {
		if !podRunning {
			bad("host: banger's tc filter on %s in the pod namespace, with no VM running there", l)
		}
	}
	if h.PodIngress && !podRunning {
		bad("host: the ingress qdisc banger adds to the pod namespace's interface, with no VM running there")
	}
	owners("nft rule", h.Rules, func(n string) string { return strings.TrimPrefix(n, "banger:") })
	owners("runtime dir", h.RunDirs, func(n string) string { return n })
	owners("cgroup", h.Cgroups, func(n string) string { _, g, _ := strings.Cut(n, ":"); return strings.TrimPrefix(g, "vm-") })
	for _, d := range h.VMDirs {
		if _, ok := v.VMs[d]; !ok {
			bad("host: directory of vm %s, which has no record", d)
		}
	}
	for _, vm := range v.VMs {
		if vm.State != api.VMRunning {
			if vm.Spec.AutoRemove {
				bad("vm %s was started with --rm and is %s, not removed", vm.ID, vm.State)
			}
			continue
		}
		if pids := h.VMMs[vm.ID]; len(pids) != 1 || pids[0] != vm.Runtime.PID {
			bad("vm %s is running with pid %d, but its VMM processes on the host are %v", vm.ID, vm.Runtime.PID, pids)
		}
		if strings.HasPrefix(vm.Spec.Network, api.NetworkNetnsPrefix) {
			if !slices.Contains(h.PodTaps, "bg-"+vm.ID) || vm.Runtime.Tap != "bg-"+vm.ID || len(h.PodFilters) != 2 {
				bad("vm %s is running without its tap and filters in its namespace (record says %q; taps %v, filters on %v)", vm.ID, vm.Runtime.Tap, h.PodTaps, h.PodFilters)
			}
			continue // no lease: the namespace's owner gave the address
		}
		if !slices.Contains(h.Taps, "bg-"+vm.ID) || vm.Runtime.Tap != "bg-"+vm.ID {
			bad("vm %s is running without its tap (record says %q)", vm.ID, vm.Runtime.Tap)
		}
		if ips[vm.Runtime.IP] != vm.ID {
			bad("vm %s runs on %s, which is leased to %q", vm.ID, vm.Runtime.IP, ips[vm.Runtime.IP])
		}
	}
	for _, what := range []struct {
		name  string
		items []string
	}{{"loop device", h.Loops}, {"scratch file", h.Tmp}, {"partial download", h.Ingest}} {
		for _, it := range what.items {
			bad("host: %s %s", what.name, it)
		}
	}
	if !sameSet(h.Images, v.Images) {
		bad("image directories %v, records %v", h.Images, v.Images)
	}
	if !sameSet(h.Kernels, v.Kernels) {
		bad("kernel directories %v, records %v", h.Kernels, v.Kernels)
	}
	sort.Strings(out)
	return out
}

func stateOf(v view, id string) string {
	if vm, ok := v.VMs[id]; ok {
		return string(vm.State)
	}
	return "not recorded"
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// summary is what must not change between two reconciles: the VMs and
// their states, the inventory and the VMM processes.
func (v view) summary() string {
	var lines []string
	for id, vm := range v.VMs {
		lines = append(lines, fmt.Sprintf("vm %s %s pid %d ip %s", id, vm.State, vm.Runtime.PID, vm.Runtime.IP))
	}
	for _, o := range v.Objs {
		lines = append(lines, fmt.Sprintf("object %s %s %s", o.Kind, o.Name, o.Owner))
	}
	for id, pids := range v.Host.VMMs {
		lines = append(lines, fmt.Sprintf("process %s %v", id, pids))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
