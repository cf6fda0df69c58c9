package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/volumes"
)

// vmFlags are the flags `run` and `create` share: what the VM is.
type vmFlags struct {
	name       string
	cpus       int
	memory     units.Size
	disk       units.Size
	env        []string
	workdir    string
	user       string
	kernel     string
	vmm        string
	network    string
	ports      []string
	init       bool
	entrypoint string
	volumes    []string
	mounts     []string
}

func (f *vmFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "name of the VM (default: a random name such as swift_heron)")
	fl.IntVar(&f.cpus, "cpus", 0, "virtual CPUs (default from the daemon's config, vm.cpus)")
	fl.Var(&f.memory, "memory", "guest memory, e.g. 512M or 2G (default vm.memory)")
	fl.Var(&f.disk, "disk", "grow the VM's root file system to this size before boot, e.g. 10G")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass the local value")
	fl.StringVarP(&f.workdir, "workdir", "w", "", "working directory of the command in the guest")
	fl.StringVarP(&f.user, "user", "u", "", "user (name or uid[:gid]) the command runs as in the guest")
	fl.StringVar(&f.kernel, "kernel", "", "guest kernel from `banger kernel ls` (default: the default kernel)")
	fl.StringVar(&f.vmm, "vmm", "", "VMM backend: auto, qemu or firecracker (default vm.vmm)")
	fl.StringVar(&f.network, "network", "", "network mode: the default bridge, or none for no NIC at all")
	fl.StringArrayVarP(&f.ports, "publish", "p", nil, "publish a guest port: [HOSTIP:]HOSTPORT:GUESTPORT[/tcp|/udp]")
	fl.BoolVar(&f.init, "init", false, "boot the image's own /sbin/init as PID 1 (the agent keeps serving)")
	fl.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint (a single program)")
	fl.StringArrayVarP(&f.volumes, "volume", "v", nil, "share a host directory live, both ways (/HOST/DIR:/GUEST/DIR[:ro]; QEMU), or attach a named volume (NAME:/GUEST/DIR[:ro])")
	fl.StringArrayVar(&f.mounts, "mount", nil, "mount a volume: type=bind|volume|image,source=SRC,target=/GUEST/DIR[,readonly][,size=SIZE]; type=image copies a directory into an ext4 drive, on every VMM")
}

// spec turns the flags plus the image and command arguments into a spec.
func (f *vmFlags) spec(image string, cmd []string) (api.VMSpec, error) {
	s := api.VMSpec{
		Image:      image,
		Kernel:     f.kernel,
		CPUs:       f.cpus,
		MemoryMiB:  int(int64(f.memory) / units.MiB),
		DiskBytes:  int64(f.disk),
		Cmd:        cmd,
		WorkingDir: f.workdir,
		User:       f.user,
		VMM:        f.vmm,
		Init:       f.init,
	}
	if f.memory != 0 && int64(f.memory)%units.MiB != 0 {
		return s, fmt.Errorf("%w: --memory %s: use whole MiB", errdefs.ErrInvalid, f.memory.String())
	}
	if f.entrypoint != "" {
		s.Entrypoint = []string{f.entrypoint}
	}
	env, err := parseEnv(f.env, os.LookupEnv)
	if err != nil {
		return s, err
	}
	s.Env = env
	switch f.network {
	case "", "default", "bridge":
	case api.NetworkNone:
		s.Network = api.NetworkNone
		if len(f.ports) > 0 {
			return s, fmt.Errorf("%w: --publish needs a network; drop --network none", errdefs.ErrInvalid)
		}
	default:
		return s, fmt.Errorf("%w: --network %q: want none, or leave it out for the default bridge", errdefs.ErrInvalid, f.network)
	}
	for _, p := range f.ports {
		pm, err := hostnet.ParsePort(p)
		if err != nil {
			return s, err
		}
		s.Ports = append(s.Ports, api.PortMapping(pm))
	}
	s.Mounts, err = f.mountSpecs()
	return s, err
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
