package daemon

import (
	"context"
	"fmt"
	"strings"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
)

// doctor reports what the daemon found on the host and what a VM start
// would use. It only probes; it changes nothing.
func (d *Daemon) doctor(ctx context.Context) api.DoctorReport {
	rep := hostChecks(ctx, host{backends: d.parts.backends, disks: d.parts.disks, cfg: d.cfg, vmsDir: d.layout.VMs(), agent: d.kernels.Agent})
	check := func(name string, ok bool, detail string) {
		rep.Checks = append(rep.Checks, api.DoctorCheck{Name: name, OK: ok, Detail: detail})
	}
	if d.parts.net == nil {
		check("networking", false, d.parts.netErr.Error())
		rep.Uses["network"] = "none (only --network none VMs can start)"
	} else if inv, err := d.parts.net.Inventory(ctx); err != nil {
		check("networking", false, err.Error())
	} else {
		bridge := "bridge " + d.cfg.Network.Bridge + " not created yet"
		if inv.Bridge != nil {
			bridge = fmt.Sprintf("bridge %s %v", inv.Bridge.Name, inv.Bridge.Addrs)
		}
		table := "nft table " + d.cfg.Network.NftTable + " not created yet"
		if inv.Table != nil {
			perVM := 0
			for _, r := range inv.Table.Rules {
				if r.VMID != "" {
					perVM++
				}
			}
			table = fmt.Sprintf("nft table inet %s (%d rules, %d of them per-VM)", d.cfg.Network.NftTable, len(inv.Table.Rules), perVM)
		}
		taps := 0 // on this daemon's bridge: other daemons' are theirs
		for _, t := range inv.Taps {
			if t.Bridge == d.cfg.Network.Bridge {
				taps++
			}
		}
		check("networking", true, fmt.Sprintf("%s; %s; %d taps; %d leases", bridge, table, taps, len(inv.Leases)))
		rep.Uses["network"] = fmt.Sprintf("bridge %s, subnet %s, nft table %s", d.cfg.Network.Bridge, d.parts.net.Subnet(), d.cfg.Network.NftTable)
	}
	ks, err := d.kernels.List()
	var names []string
	for _, k := range ks {
		n := k.Name + " (" + k.Version + ")"
		if k.Default {
			n += " default"
		}
		names = append(names, n)
	}
	switch {
	case err != nil:
		check("kernels", false, err.Error())
	case len(names) == 0:
		check("kernels", false, "none: run `banger kernel pull debian-cloud` or `banger kernel import --default PATH`")
	default:
		check("kernels", true, strings.Join(names, ", "))
	}
	return rep
}

// host is what doctor's host checks look at: the backends (their probe
// cache), the disk strategies, the config, the VMs' directory (where disks
// go: its file system decides reflinks) and where the guest agent is.
type host struct {
	backends *vmm.Set
	disks    *rootfs.Manager
	cfg      config.Config
	vmsDir   string
	agent    func() (string, error)
}

// HostChecks runs doctor's checks of the host that need no daemon — the
// VMMs and their confinement, device-mapper, the disk strategies on the
// layout's file system, virtiofsd, the guest agent — with a fresh probe of
// each backend. `banger setup` reports them before any daemon runs; they
// change nothing.
func HostChecks(ctx context.Context, cfg config.Config, layout paths.Layout) api.DoctorReport {
	return hostChecks(ctx, host{
		backends: newBackends(cfg), disks: rootfs.New(), cfg: cfg, vmsDir: layout.VMs(),
		agent: func() (string, error) { return imagepull.LocateAgent(cfg.Image.AgentBinary) },
	})
}

// hostChecks are doctor's checks of the host itself, which need no
// daemon's state: the VMMs and their confinement, device-mapper, the disk
// strategies, virtiofsd and the guest agent.
func hostChecks(ctx context.Context, h host) api.DoctorReport {
	rep := api.DoctorReport{Uses: map[string]string{}}
	check := func(name string, ok bool, detail string) {
		rep.Checks = append(rep.Checks, api.DoctorCheck{Name: name, OK: ok, Detail: detail})
	}
	set := h.backends
	for _, b := range set.Backends() {
		p := set.Probe(ctx, b)
		detail := strings.TrimSpace(strings.Join(append([]string{p.Version, accelNote(p.Accel)}, p.Notes...), "; "))
		check(b.Name(), p.Available, strings.Trim(detail, "; "))
	}
	confined := map[string]string{}
	for _, b := range set.Backends() {
		ok, detail := confinementCheck(ctx, b)
		check(b.Name()+" confinement", ok, detail)
		confined[b.Name()] = detail
	}
	if b, p, err := set.Pick(ctx, h.cfg.VM.VMM); err == nil {
		rep.Uses["vmm"], rep.Uses["accel"], rep.Uses["confinement"] = b.Name(), p.Accel, confined[b.Name()]
	} else {
		rep.Uses["vmm"] = "none: " + err.Error()
	}
	if err := dmsnap.Available(); err != nil {
		check("device-mapper", false, err.Error())
	} else {
		check("device-mapper", true, "/dev/mapper/control and dmsetup present")
	}
	caps := h.disks.Probe(h.vmsDir)
	for _, c := range caps.Checks() {
		check(c.Name, c.OK, c.Detail)
	}
	rep.Uses["disk"] = diskUses(set, caps, h.cfg.VM.DiskStrategy)
	if bin, err := volumes.FindVirtiofsd(h.cfg.QEMU.Virtiofsd); err != nil {
		check("virtiofsd", false, err.Error()+"; run -v HOST:GUEST needs it (named volumes and --mount type=image do not)")
	} else {
		check("virtiofsd", true, bin+", for run -v HOST:GUEST")
	}
	switch a, err := h.agent(); {
	case err != nil:
		check("guest agent", false, err.Error())
	case a == "":
		check("guest agent", false, "banger-agent not found next to banger, in ../lib/banger/ beside it (where make install puts it) or in "+imagepull.SystemAgentPath+"; images pulled now get no agent")
	default:
		check("guest agent", true, a)
	}
	return rep
}

// confinementCheck says how a VMM started now would be confined, and what
// the host lacks for more.
func confinementCheck(ctx context.Context, b vmm.Backend) (ok bool, detail string) {
	caps := b.Capabilities()
	c, isConfiner := b.(vmm.Confiner)
	if (caps.Confined || caps.Jailer) && isConfiner {
		st := c.Confinement(ctx)
		detail = st.Summary
		if len(st.Missing) > 0 {
			detail += "; missing: " + strings.Join(st.Missing, "; ")
		}
		if st.Refused {
			detail += "; VM starts are refused until that is fixed"
			if st.Override != "" {
				detail += " (or " + st.Override + ")"
			}
		}
		return st.InForce && len(st.Missing) == 0, detail
	}
	return false, "none: the VMM runs as the daemon's root (no jailer configured or found)"
}

// diskUses says which disk strategy each backend's VMs get here.
func diskUses(set *vmm.Set, caps rootfs.Capabilities, strategy string) string {
	var uses []string
	for _, b := range set.Backends() {
		req := rootfs.Request{QCOW2: b.Capabilities().Opens(vmm.FormatQCOW2), Strategy: strategy}
		if s, err := rootfs.Choose(req, caps); err == nil {
			uses = append(uses, s+" (with "+b.Name()+")")
		} else {
			uses = append(uses, "none with "+b.Name()+": "+err.Error())
		}
	}
	return strings.Join(uses, ", ")
}

func accelNote(accel string) string {
	if accel == "" {
		return ""
	}
	return "accel " + accel
}
