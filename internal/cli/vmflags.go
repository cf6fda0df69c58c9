package cli

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// vmFlags are the flags `run` and `create` share: what the VM is.
type vmFlags struct {
	name       string
	cpus       float64
	memory     units.Size
	disk       units.Size
	env        []string
	envFiles   []string
	labels     []string
	workdir    string
	user       string
	kernel     string
	vmm        string
	network    string
	aliases    []string
	ports      []string
	publishAll bool
	init       bool
	cold       bool
	entrypoint string
	tmpfs      []string
	dns        api.DNSConfig
	volumes    []string
	mounts     []string
	restart    string
	// stdio are --stdin-file, --stdout-file, --stderr-file.
	stdio [3]string
}

func (f *vmFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "name of the VM (default: a random name such as swift_heron)")
	fl.Float64Var(&f.cpus, "cpus", 0, "virtual CPUs; a VM has whole ones, so a decimal such as 1.5 is rounded up (default vm.cpus)")
	fl.VarP(&f.memory, "memory", "m", "guest memory, e.g. 512M or 2G (default vm.memory)")
	fl.Var(&f.disk, "disk", "size of the VM's disk, e.g. 20G (sparse; default vm.disk, 8GiB)")
	fl.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs: PATH[:OPTIONS], e.g. /scratch:size=64m")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass the local value")
	fl.StringArrayVar(&f.envFiles, "env-file", nil, "read environment variables from a file of KEY=VALUE lines (# comments); -e overrides it")
	fl.StringArrayVarP(&f.labels, "label", "l", nil, "set a label on the VM: KEY=VALUE (banger ps --filter label=KEY=VALUE finds it)")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory of the command in the guest")
	fl.StringVarP(&f.user, "user", "u", "", "user (name or uid[:gid]) the command runs as in the guest")
	fl.StringVar(&f.kernel, "kernel", "", "guest kernel, a name banger kernel ls shows (default: the default kernel)")
	fl.StringVar(&f.vmm, "vmm", "", "VMM backend: auto, qemu or firecracker (default vm.vmm)")
	fl.StringVar(&f.network, "network", "", "network: the default bridge; a network made by 'banger network create' (VMs on it reach each other by name); none for no NIC at all; or netns:PATH[:IFACE] to take the place of IFACE in an existing network namespace (/var/run/netns/NAME, /proc/PID/ns/net; QEMU)")
	fl.StringArrayVar(&f.aliases, "network-alias", nil, "another name the VM answers to on its --network (DNS); repeatable")
	fl.StringArrayVarP(&f.ports, "publish", "p", nil, "publish a guest port: [[HOSTIP:]HOSTPORT:]GUESTPORT[/tcp|/udp]; without a host port banger picks a free one at each start (banger port VM)")
	fl.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish every port the image exposes on a free host port banger picks at each start (banger port VM)")
	fl.StringArrayVar(&f.dns.Servers, "dns", nil, "DNS server for the guest's /etc/resolv.conf, instead of the network's (up to 3)")
	fl.StringArrayVar(&f.dns.Search, "dns-search", nil, "DNS search domain for the guest's /etc/resolv.conf")
	fl.StringArrayVar(&f.dns.Options, "dns-option", nil, "resolver option for the guest's /etc/resolv.conf, e.g. ndots:2")
	fl.BoolVar(&f.init, "init", false, "boot the image's own /sbin/init as PID 1 (the agent keeps serving)")
	fl.BoolVar(&f.cold, "cold", false, "always boot this VM cold: never restore a boot snapshot nor save one (see snapshot.boot)")
	fl.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint (a single program)")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "share a host directory live, both ways (/HOST/DIR:/GUEST/DIR[:ro]; QEMU), or attach a named volume (NAME:/GUEST/DIR[:ro])")
	fl.StringVar(&f.restart, "restart", "no", "restart policy when the main process ends: no, on-failure[:MAX], always or unless-stopped (as docker's; a stop is never undone)")
	fl.StringVar(&f.stdio[0], "stdin-file", "", "feed the main process's stdin from this host file or FIFO (its end closes stdin)")
	fl.StringVar(&f.stdio[1], "stdout-file", "", "also append the main process's stdout to this host file or FIFO (created when missing)")
	fl.StringVar(&f.stdio[2], "stderr-file", "", "also append the main process's stderr to this host file or FIFO (created when missing)")
	fl.StringArrayVar(&f.mounts, "mount", nil, "mount a volume: type=bind|volume|image,source=SRC,target=/GUEST/DIR[,readonly][,size=SIZE]; type=image copies a directory into an ext4 drive, on every VMM; type=pod,target=/GUEST/DIR shares a directory banger makes, where the images of a pod VM's containers are mounted")
}

// specOf is spec for the arguments of run and create (IMAGE [COMMAND...]);
// it says on stderr when --cpus was rounded.
func (f *vmFlags) specOf(app *App, args []string) (api.VMSpec, error) {
	image, command := splitCommand(args)
	s, err := f.spec(image, command)
	if note := f.cpuNote(); err == nil && note != "" {
		_, _ = fmt.Fprintln(app.Stderr, "banger: "+note)
	}
	return s, err
}

// spec turns the flags plus the image and command arguments into a spec.
func (f *vmFlags) spec(image string, cmd []string) (api.VMSpec, error) {
	cpus, err := roundCPUs(f.cpus)
	if err != nil {
		return api.VMSpec{}, err
	}
	s := api.VMSpec{
		Image:      image,
		Kernel:     f.kernel,
		CPUs:       cpus,
		MemoryMiB:  int(int64(f.memory) / units.MiB),
		DiskBytes:  int64(f.disk),
		Cmd:        cmd,
		WorkingDir: f.workdir,
		User:       f.user,
		Tmpfs:      f.tmpfs,
		DNS:        f.dns,
		VMM:        f.vmm,
		Init:       f.init,
		Cold:       f.cold,
	}
	if f.memory != 0 && int64(f.memory)%units.MiB != 0 {
		return s, fmt.Errorf("%w: --memory %s: use whole MiB", errdefs.ErrInvalid, f.memory.String())
	}
	if f.entrypoint != "" {
		s.Entrypoint = []string{f.entrypoint}
	}
	if s.Env, err = envOf(f.envFiles, f.env); err != nil {
		return s, err
	}
	if s.Labels, err = parseLabels(f.labels); err != nil {
		return s, err
	}
	if s.Restart, err = restartPolicy(f.restart); err != nil {
		return s, err
	}
	switch {
	case f.network == "" || f.network == "default" || f.network == "bridge":
	case f.network == api.NetworkNone:
		s.Network = api.NetworkNone
		if len(f.ports) > 0 || f.publishAll {
			return s, fmt.Errorf("%w: --publish needs a network; drop --network none", errdefs.ErrInvalid)
		}
	case strings.HasPrefix(f.network, api.NetworkNetnsPrefix):
		if _, _, err := hostnet.ParseNetns(f.network); err != nil {
			return s, err
		}
		s.Network = f.network
		if len(f.ports) > 0 || f.publishAll {
			return s, hostnet.NetnsPortsError(f.network)
		}
	case f.network == "host":
		return s, fmt.Errorf("%w: --network %q: a VM has its own kernel and cannot share the host's network stack; publish ports with -p instead", errdefs.ErrInvalid, f.network)
	default: // a user-defined network's name; the daemon checks it
		s.Network = f.network
	}
	s.NetworkAliases, s.PublishAll = f.aliases, f.publishAll
	for _, p := range f.ports {
		pm, err := hostnet.ParsePort(p)
		if err != nil {
			return s, err
		}
		s.Ports = append(s.Ports, api.PortMapping(pm))
	}
	if s.Stdio, err = f.stdioPaths(); err != nil {
		return s, err
	}
	s.Mounts, err = f.mountSpecs()
	return s, err
}

// stdioPaths are the --std*-file paths made absolute (the daemon, on the
// same host, takes only absolute ones).
func (f *vmFlags) stdioPaths() (api.Stdio, error) {
	var abs [3]string
	for i, p := range f.stdio {
		if p == "" {
			continue
		}
		a, err := filepath.Abs(p)
		if err != nil {
			return api.Stdio{}, fmt.Errorf("%w: %s: %w", errdefs.ErrInvalid, p, err)
		}
		abs[i] = a
	}
	return api.Stdio{Stdin: abs[0], Stdout: abs[1], Stderr: abs[2]}, nil
}

// mountSpecs parses -v and --mount, -v first.
func (f *vmFlags) mountSpecs() ([]api.Mount, error) {
	var out []api.Mount
	for _, flag := range []struct {
		vals  []string
		parse func(string) (volumes.Mount, error)
	}{{f.volumes, volumes.ParseVolumeFlag}, {f.mounts, volumes.ParseMountFlag}} {
		for _, v := range flag.vals {
			m, err := flag.parse(v)
			if err != nil {
				return nil, err
			}
			out = append(out, api.Mount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly, SizeBytes: m.SizeBytes})
		}
	}
	return out, nil
}

// parseEnv reads -e values: KEY=VALUE as is, a bare KEY takes the local
// value (and is dropped when unset, as docker does).
func parseEnv(vals []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range vals {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" || strings.ContainsAny(k, " \t\n\x00") {
			return nil, fmt.Errorf("%w: -e %q: want KEY=VALUE or KEY", errdefs.ErrInvalid, v)
		}
		if hasValue {
			out = append(out, v)
			continue
		}
		if local, ok := lookup(k); ok {
			out = append(out, k+"="+local)
		}
	}
	return out, nil
}

// roundCPUs turns --cpus into whole virtual CPUs, rounding a decimal up
// (docker's --cpus is a CPU-time quota; a VM's unit is a vCPU); 0 means the
// config's default.
func roundCPUs(cpus float64) (int, error) {
	if cpus < 0 || math.IsNaN(cpus) || cpus > 1024 {
		return 0, fmt.Errorf("%w: --cpus %v: want a number of CPUs from 0.01 to 1024", errdefs.ErrInvalid, cpus)
	}
	return int(math.Ceil(cpus)), nil
}

// cpuNote says how --cpus was rounded, or "" when it was whole.
func (f *vmFlags) cpuNote() string {
	n, err := roundCPUs(f.cpus)
	if err != nil || float64(n) == f.cpus {
		return ""
	}
	return fmt.Sprintf("--cpus %v rounded up to %d: a VM has whole virtual CPUs", f.cpus, n)
}

// parseLabels reads --label values: KEY=VALUE, or KEY for an empty value.
func parseLabels(vals []string) (map[string]string, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(vals))
	for _, v := range vals {
		k, val, _ := strings.Cut(v, "=")
		if k == "" || strings.ContainsAny(k, " \t\n\x00") {
			return nil, fmt.Errorf("%w: --label %q: want KEY=VALUE, with no white space in KEY", errdefs.ErrInvalid, v)
		}
		out[k] = val
	}
	return out, nil
}
