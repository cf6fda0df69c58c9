package crash

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/cgroups"
	"github.com/bangerdev/banger/internal/proc"
	"github.com/bangerdev/banger/internal/vmm"
)

// hostState is what the host holds of a lab, found without asking the
// daemon: by the lab's bridge, nft table and root, and the VM ids taps
// and processes carry.
type hostState struct {
	// VMMs are the live processes with BANGER_VM in their environment
	// that hold a file under the lab's root (a confined QEMU names none
	// on its command line: it inherits descriptors), by VM id.
	VMMs map[string][]int
	// Cgroups are the VMM cgroups ("memory:vm-<id>") of the lab's VMs.
	Cgroups []string
	// Taps are "bg-" links on the lab's bridge or named after ids.
	Taps []string
	// PodTaps are "bg-" links in the lab's pod namespace (podNetns);
	// PodFilters the ingress filters at banger's priority there, by link;
	// PodIngress says its interface has an ingress qdisc (the pair makes
	// none: banger adds it while a VM is attached).
	PodTaps, PodFilters []string
	PodIngress          bool
	// Rules are the comments of per-VM rules in the lab's nft table.
	Rules []string
	// Loops are loop devices whose backing file is under the root.
	Loops []string
	// The entries of the layout's directories.
	VMDirs, RunDirs, Tmp, Ingest, Images, Kernels []string
}

// scanHost reads the host. ids are every VM id the lab has seen, so a tap
// that left the bridge is found by its name too.
func (l *lab) scanHost(t *testing.T, ids map[string]bool) hostState {
	t.Helper()
	h := hostState{VMMs: map[string][]int{}}
	procs, err := proc.EnvPrefixed(vmm.EnvVMID)
	if err != nil {
		t.Fatal(err)
	}
	for pid, id := range procs {
		if l.underRoot(pid) {
			h.VMMs[id] = append(h.VMMs[id], pid)
		}
	}
	h.Cgroups = l.cgroups(ids)
	var links []struct {
		Name   string `json:"ifname"`
		Master string `json:"master"`
	}
	if out, err := exec.Command("ip", "-j", "link", "show").Output(); err != nil {
		t.Fatalf("ip link: %v", err)
	} else if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip link: %v", err)
	}
	for _, ln := range links {
		if id, ok := strings.CutPrefix(ln.Name, "bg-"); ok && (ln.Master == l.cfg.Network.Bridge || ids[id]) {
			h.Taps = append(h.Taps, ln.Name)
		}
	}
	l.podScan(t, &h)
	h.Rules = l.nftRules(t)
	h.Loops = l.loops(t)
	for _, d := range []struct {
		dir string
		out *[]string
	}{
		{l.layout.VMs(), &h.VMDirs}, {l.layout.VMRuntimes(), &h.RunDirs}, {l.layout.Tmp(), &h.Tmp},
		{filepath.Join(l.layout.OCICache(), "ingest"), &h.Ingest}, {l.layout.Images(), &h.Images}, {l.layout.Kernels(), &h.Kernels},
	} {
		*d.out = entries(d.dir)
	}
	return h
}

// underRoot says whether process pid names the lab's root on its command
// line or holds a file under it.
func (l *lab) underRoot(pid int) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && strings.Contains(string(cmdline), l.root+"/") {
		return true
	}
	for _, fd := range entries(filepath.Join(dir, "fd")) {
		if target, err := os.Readlink(filepath.Join(dir, "fd", fd)); err == nil && strings.HasPrefix(target, l.root+"/") {
			return true
		}
	}
	return false
}

// cgroups lists the VMM cgroups under the configured parent of VMs in ids
// (the parent is shared by every daemon on the host), in each hierarchy
// that holds the controllers.
func (l *lab) cgroups(ids map[string]bool) []string {
	h := cgroups.Detect()
	bases := map[string]string{"unified": h.Unified}
	if h.Version == 1 {
		bases = h.V1
	}
	var out []string
	for ctrl, base := range bases {
		if base == "" {
			continue
		}
		for _, name := range entries(filepath.Join(base, l.cfg.QEMU.CgroupParent)) {
			if id, ok := strings.CutPrefix(name, "vm-"); ok && ids[id] {
				out = append(out, ctrl+":"+name)
			}
		}
	}
	return out
}

// nftRules returns the comments of the per-VM rules in the lab's table.
func (l *lab) nftRules(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("nft", "-j", "list", "table", "inet", l.cfg.Network.NftTable).Output()
	if err != nil {
		return nil // no table: no rules
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("nft -j: %v", err)
	}
	var rules []string
	for _, o := range doc.Nftables {
		raw, ok := o["rule"]
		if !ok {
			continue
		}
		var r struct {
			Comment string `json:"comment"`
		}
		if err := json.Unmarshal(raw, &r); err == nil && strings.HasPrefix(r.Comment, "banger:") {
			rules = append(rules, r.Comment)
		}
	}
	return rules
}

// loops returns the loop devices backed by files under the root.
func (l *lab) loops(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("losetup", "-J", "-l").Output()
	if err != nil || len(strings.TrimSpace(string(out))) == 0 {
		return nil
	}
	var doc struct {
		Devices []struct {
			Name string `json:"name"`
			Back string `json:"back-file"`
		} `json:"loopdevices"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("losetup -J: %v", err)
	}
	var loops []string
	for _, d := range doc.Devices {
		if strings.HasPrefix(d.Back, l.root+"/") {
			loops = append(loops, d.Name+" → "+d.Back)
		}
	}
	return loops
}

// entries lists a directory's entry names, sorted ("" for none).
func entries(dir string) []string {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// podScan lists banger's taps in the lab's pod namespace, and the links
// there with a filter at banger's priority (2985) on their ingress, and
// whether its interface has an ingress qdisc.
func (l *lab) podScan(t *testing.T, h *hostState) {
	t.Helper()
	if l.pod == nil {
		return
	}
	var links []struct {
		Name string `json:"ifname"`
	}
	out, err := exec.Command("ip", "-n", l.pod.A, "-j", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip -n %s link: %v", l.pod.A, err)
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip -n %s link: %v", l.pod.A, err)
	}
	tc := func(args ...string) string {
		out, _ := exec.Command("ip", append([]string{"netns", "exec", l.pod.A, "tc"}, args...)...).Output() //nolint:gosec // the lab's own namespace
		return string(out)
	}
	for _, ln := range links {
		if strings.HasPrefix(ln.Name, "bg-") {
			h.PodTaps = append(h.PodTaps, ln.Name)
		}
		if strings.Contains(tc("filter", "show", "dev", ln.Name, "ingress"), "pref 2985 ") {
			h.PodFilters = append(h.PodFilters, ln.Name)
		}
	}
	h.PodIngress = strings.Contains(tc("qdisc", "show", "dev", l.pod.VethA, "ingress"), "qdisc ingress")
}
