package vms

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"

	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// defaultPath is the PATH a main process gets when the image sets none
// (what docker and runc use).
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// mainProcess merges the VM's spec over the image's OCI config, with
// docker's rules: --entrypoint replaces the entrypoint and drops the
// image's cmd; a command given after the image replaces the cmd; env from
// the spec overrides the image's by key. A VM started with --init has no
// main process. It is an error to have nothing to run otherwise unless
// the VM is detached (it then only serves exec).
func mainProcess(spec Spec, img imagepull.Config) (*bootcfg.Process, error) {
	if spec.Init {
		return nil, nil
	}
	argv := Argv(spec, img)
	if len(argv) == 0 {
		if spec.Detach {
			return nil, nil
		}
		return nil, fmt.Errorf("%w: image %s sets no entrypoint or cmd: give a command after the image (banger run IMAGE -- CMD...)", errdefs.ErrInvalid, spec.Image)
	}
	p := &bootcfg.Process{
		Argv:       argv,
		Env:        mergeEnv(img.Env, spec.Env),
		WorkingDir: cmp.Or(spec.WorkingDir, img.WorkingDir),
		User:       cmp.Or(spec.User, img.User),
		TTY:        spec.TTY,
		Stdin:      spec.Interactive || spec.Stdio.Stdin != "",
		StopSignal: img.StopSignal,
	}
	return p, nil
}

// Argv is what a VM's main process runs: the spec's entrypoint and cmd
// over the image's, by docker's rules (an entrypoint given drops the
// image's cmd; a cmd given replaces it).
func Argv(spec Spec, img imagepull.Config) []string {
	entry, cmd := img.Entrypoint, img.Cmd
	if len(spec.Entrypoint) > 0 {
		entry, cmd = spec.Entrypoint, nil
	}
	if len(spec.Cmd) > 0 {
		cmd = spec.Cmd
	}
	return append(append([]string{}, entry...), cmd...)
}

// mergeEnv returns base with over's keys replacing base's, in order, and a
// default PATH when neither sets one.
func mergeEnv(base, over []string) []string {
	var out []string
	index := map[string]int{}
	for _, kv := range append(append([]string{}, base...), over...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	if _, ok := index["PATH"]; !ok {
		out = append([]string{defaultPath}, out...)
	}
	return out
}

// hostname turns a VM name into a valid host name ("swift_heron" →
// "swift-heron").
func hostname(name string) string {
	h := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
			return r
		default:
			return '-'
		}
	}, name)
	h = strings.Trim(h, "-")
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-")
	}
	if h == "" {
		return "banger"
	}
	return h
}

// bootInputs is what a VM's boot config is made of.
type bootInputs struct {
	VM         VM
	Image      Image
	Lease      *hostnet.Lease // nil with --network none
	HostKeyPEM string
	ClientKey  string // authorized_keys line of the daemon's client key
	Caps       vmm.Capabilities
	Seed       []byte
	StopGrace  int // milliseconds
	// BootTimeout is vm.boot_timeout, in seconds.
	BootTimeout int
	Mounts      []bootcfg.Mount
}

// bootConfig builds the config drive's content as a value.
func bootConfig(in bootInputs) (bootcfg.Config, error) {
	main, err := mainProcess(in.VM.Spec, in.Image.Config)
	if err != nil {
		return bootcfg.Config{}, err
	}
	c := bootcfg.Config{
		VMID:        in.VM.ID,
		Hostname:    cmp.Or(in.VM.Spec.Hostname, hostname(in.VM.Name)),
		SSH:         bootcfg.SSH{HostKey: in.HostKeyPEM, AuthorizedKeys: []string{in.ClientKey}},
		Main:        main,
		Detached:    in.VM.Spec.Detach,
		ExitWaitMS:  exitWait(in.VM.Spec, in.BootTimeout),
		Init:        in.VM.Spec.Init,
		EntropySeed: in.Seed,
		StopGraceMS: in.StopGrace,
		Tmpfs:       tmpfsMounts(in.VM.Spec.Tmpfs),
		Mounts:      in.Mounts,
	}
	switch in.Caps.Channel {
	case vmm.ChannelVsock:
		c.Channels.VsockPort = vmm.AgentVsockPort
	default:
		c.Channels.VirtioPort = vmm.AgentPortName
	}
	if l := in.Lease; l != nil {
		// The agent's TCP fallback serves the host on banger's bridge;
		// in a namespace the host cannot reach it, and the pod's network
		// should not see banger's SSH door.
		if l.Netns == "" {
			c.Channels.TCPPort = vmm.AgentTCPPort
		}
		c.Network = &bootcfg.Network{
			MAC:     l.MAC,
			Address: netip.PrefixFrom(l.IP, l.Subnet.Bits()),
			Gateway: l.Gateway,
			MTU:     l.MTU,
			DNS:     l.DNS,
		}
		applyDNS(c.Network, in.VM.Spec.DNS)
	}
	return c, c.Validate()
}

// kernelCmdline is the guest kernel's command line from the daemon: the
// root disk, the config drive, the agent as init. The backend appends its
// console and timer settings. Nothing secret goes here (bootcfg's rule).
// A held boot mounts the root read-only (the agent remounts it
// read-write when it applies the VM's config), so nothing is written to
// the disk before a boot snapshot is saved.
func kernelCmdline(caps vmm.Capabilities, held bool) string {
	mode := "rw"
	if held {
		mode = "ro"
	}
	args := []string{
		"root=/dev/vda", mode, "rootfstype=ext4",
		// A grown disk's new inode tables are sparse holes, zeros
		// already: the kernel must not spend the guest's first seconds
		// (and the disk's space) writing zeros over them.
		"rootflags=noinit_itable",
		bootcfg.ArgConfig + "=/dev/vdb",
		"init=" + bootcfg.DefaultStage2,
		// The serial console is slow under emulation; keep the kernel
		// quiet. Errors and panics still print.
		"quiet", "loglevel=3",
	}
	if !caps.PowerOff {
		// A VMM that cannot power off (Firecracker) exits when the guest
		// reboots.
		args = append(args, bootcfg.ArgHalt+"=reboot")
	}
	return strings.Join(args, " ")
}

// tmpfsMounts turns `--tmpfs PATH[:OPTIONS]` values (validated at create)
// into the config drive's mounts.
func tmpfsMounts(specs []string) []bootcfg.Tmpfs {
	var out []bootcfg.Tmpfs
	for _, t := range specs {
		p, opts, _ := strings.Cut(t, ":")
		out = append(out, bootcfg.Tmpfs{Path: p, Options: opts})
	}
	return out
}

// exitWait is how long the guest keeps a finished main process's status
// for its host before it powers off. A foreground run's CLI attaches as
// soon as the start returns, however long a loaded host takes to get
// there: give it the boot timeout. Nobody waits to attach to a detached
// VM: the agent's default (a few seconds) then.
func exitWait(spec Spec, bootTimeoutSec int) int {
	if spec.Detach || bootTimeoutSec <= 0 {
		return 0
	}
	return bootTimeoutSec * 1000
}

// applyDNS puts the VM's own DNS settings (run --dns, --dns-search,
// --dns-option) over what its network gives: each one set replaces the
// network's. The addresses were checked at create.
func applyDNS(n *bootcfg.Network, d DNS) {
	if len(d.Servers) > 0 {
		n.DNS = nil
		for _, s := range d.Servers {
			if a, err := netip.ParseAddr(s); err == nil {
				n.DNS = append(n.DNS, a)
			}
		}
	}
	if len(d.Search) > 0 {
		n.Search = d.Search
	}
	if len(d.Options) > 0 {
		n.Options = d.Options
	}
}
