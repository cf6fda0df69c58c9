package vms

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/vmm"
)

func TestMainProcessFollowsDockerRules(t *testing.T) {
	img := imagepull.Config{Entrypoint: []string{"/entry"}, Cmd: []string{"serve", "--port=80"}, Env: []string{"PATH=/img/bin", "A=1"}, WorkingDir: "/srv", User: "app"}
	tests := []struct {
		name     string
		spec     Spec
		argv     []string
		env      []string
		wd, user string
	}{
		{"image defaults", Spec{}, []string{"/entry", "serve", "--port=80"}, []string{"PATH=/img/bin", "A=1"}, "/srv", "app"},
		{"cmd replaces cmd", Spec{Cmd: []string{"version"}}, []string{"/entry", "version"}, nil, "", ""},
		{"entrypoint drops cmd", Spec{Entrypoint: []string{"/bin/sh"}}, []string{"/bin/sh"}, nil, "", ""},
		{"both", Spec{Entrypoint: []string{"/bin/sh"}, Cmd: []string{"-c", "id"}}, []string{"/bin/sh", "-c", "id"}, nil, "", ""},
		{"env override and add", Spec{Env: []string{"A=2", "B=3"}}, nil, []string{"PATH=/img/bin", "A=2", "B=3"}, "", ""},
		{"workdir and user", Spec{WorkingDir: "/tmp", User: "1000:1000"}, nil, nil, "/tmp", "1000:1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := mainProcess(tt.spec, img)
			if err != nil {
				t.Fatal(err)
			}
			if tt.argv != nil && !slices.Equal(p.Argv, tt.argv) {
				t.Errorf("argv %q, want %q", p.Argv, tt.argv)
			}
			if tt.env != nil && !slices.Equal(p.Env, tt.env) {
				t.Errorf("env %q, want %q", p.Env, tt.env)
			}
			if tt.wd != "" && p.WorkingDir != tt.wd || tt.user != "" && p.User != tt.user {
				t.Errorf("wd %q user %q", p.WorkingDir, p.User)
			}
		})
	}
	// No PATH anywhere: the default one is added first.
	p, _ := mainProcess(Spec{Cmd: []string{"true"}}, imagepull.Config{Env: []string{"X=1"}})
	if len(p.Env) != 2 || p.Env[0] != defaultPath {
		t.Errorf("env without PATH = %q", p.Env)
	}
	// Nothing to run: an error unless detached or --init.
	if _, err := mainProcess(Spec{Image: "scratch"}, imagepull.Config{}); err == nil || !strings.Contains(err.Error(), "sets no entrypoint or cmd") {
		t.Errorf("empty command: %v", err)
	}
	for _, spec := range []Spec{{Detach: true}, {Init: true, Cmd: []string{"x"}}} {
		if p, err := mainProcess(spec, imagepull.Config{}); p != nil || err != nil {
			t.Errorf("spec %+v: want no main process, got %+v, %v", spec, p, err)
		}
	}
}

func TestHostname(t *testing.T) {
	for in, want := range map[string]string{
		"swift_heron": "swift-heron", "dev": "dev", "a.b": "a-b", "_x_": "x", "___": "banger",
		strings.Repeat("a", 70): strings.Repeat("a", 63),
	} {
		if got := hostname(in); got != want {
			t.Errorf("hostname(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBootConfig(t *testing.T) {
	hk, err := agentclient.NewHostKey()
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := agentclient.NewClientKey()
	lease := &hostnet.Lease{IP: netip.MustParseAddr("10.213.0.5"), Subnet: netip.MustParsePrefix("10.213.0.0/20"), Gateway: netip.MustParseAddr("10.213.0.1"), MAC: "02:00:00:00:00:05", MTU: 1500, DNS: []netip.Addr{netip.MustParseAddr("10.255.255.53")}}
	in := bootInputs{
		VM:         VM{ID: "0123456789ab", Name: "dev_box", Spec: Spec{Cmd: []string{"uname", "-a"}, TTY: true, Tmpfs: []string{"/cache:size=8m"}}},
		Image:      Image{Config: imagepull.Config{Env: []string{"PATH=/bin"}, StopSignal: "SIGQUIT"}},
		Lease:      lease,
		HostKeyPEM: string(hk.PEM),
		ClientKey:  string(ssh.MarshalAuthorizedKey(ck.PublicKey())),
		Caps:       vmm.Capabilities{Channel: vmm.ChannelSerial, PowerOff: true},
		Seed:       []byte("0123456789abcdef"),
	}
	c, err := bootConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "dev-box" || c.Main == nil || !c.Main.TTY || c.Main.Argv[0] != "uname" || c.Main.StopSignal != "SIGQUIT" {
		t.Errorf("config %+v main %+v", c, c.Main)
	}
	// The spec's host name (docker's --hostname) wins over the VM's name.
	in.VM.Spec.Hostname = "db.internal"
	if c, err := bootConfig(in); err != nil || c.Hostname != "db.internal" {
		t.Errorf("spec hostname: %q, %v; want db.internal", c.Hostname, err)
	}
	in.VM.Spec.Hostname = ""
	if len(c.Tmpfs) != 1 || c.Tmpfs[0] != (bootcfg.Tmpfs{Path: "/cache", Options: "size=8m"}) {
		t.Errorf("tmpfs %+v", c.Tmpfs)
	}
	if c.Network == nil || c.Network.Address.String() != "10.213.0.5/20" || c.Network.Gateway != lease.Gateway || c.Network.MAC != lease.MAC {
		t.Errorf("network %+v", c.Network)
	}
	if c.Channels.VirtioPort != "banger.agent" || c.Channels.VsockPort != 0 || c.Channels.TCPPort != 1022 {
		t.Errorf("qemu channels %+v", c.Channels)
	}
	if !slices.Equal(c.Network.DNS, lease.DNS) || c.Network.Search != nil || c.Network.Options != nil {
		t.Errorf("without --dns the network's resolvers: %+v", c.Network)
	}
	// The VM's own DNS settings replace the network's, field by field.
	in.VM.Spec.DNS = DNS{Servers: []string{"10.96.0.10", "fd00::10"}, Options: []string{"ndots:5"}}
	if c, err = bootConfig(in); err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("fd00::10")}; !slices.Equal(c.Network.DNS, want) ||
		c.Network.Search != nil || !slices.Equal(c.Network.Options, []string{"ndots:5"}) {
		t.Errorf("with --dns and --dns-option: %+v", c.Network)
	}
	in.VM.Spec.DNS = DNS{Search: []string{"svc.cluster.local"}}
	if c, err = bootConfig(in); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Network.DNS, lease.DNS) || !slices.Equal(c.Network.Search, []string{"svc.cluster.local"}) {
		t.Errorf("--dns-search alone keeps the network's resolvers: %+v", c.Network)
	}
	in.Caps, in.Lease = vmm.Capabilities{Channel: vmm.ChannelVsock}, nil
	c, err = bootConfig(in)
	if err != nil {
		t.Fatal(err)
	}
	if c.Network != nil || c.Channels.VsockPort != 1024 || c.Channels.VirtioPort != "" || c.Channels.TCPPort != 0 {
		t.Errorf("firecracker, no network: network %+v channels %+v", c.Network, c.Channels)
	}
}

func TestKernelCmdlineHasNoSecretsAndNamesTheDrives(t *testing.T) {
	q := kernelCmdline(vmm.Capabilities{PowerOff: true}, false)
	for _, want := range []string{"root=/dev/vda", " rw ", "banger.cfg=/dev/vdb", "init=/.banger/agent"} {
		if !strings.Contains(q, want) {
			t.Errorf("qemu cmdline %q lacks %q", q, want)
		}
	}
	if strings.Contains(q, "banger.halt") {
		t.Errorf("qemu powers off; got %q", q)
	}
	if f := kernelCmdline(vmm.Capabilities{}, false); !strings.Contains(f, "banger.halt=reboot") {
		t.Errorf("firecracker needs reboot-halt: %q", f)
	}
	// A held boot mounts the root read-only: nothing reaches the disk
	// before the boot snapshot is saved.
	if h := kernelCmdline(vmm.Capabilities{PowerOff: true}, true); !strings.Contains(h, " ro ") || strings.Contains(h, " rw ") {
		t.Errorf("held cmdline %q: want ro, not rw", h)
	}
}

// A foreground run's CLI attaches once the start returns: the guest keeps
// the exit status for it as long as a boot may take; a detached VM's
// guest does not wait for a host that is not coming.
func TestExitWait(t *testing.T) {
	if got := exitWait(Spec{}, 60); got != 60000 {
		t.Errorf("foreground: %d ms", got)
	}
	if got := exitWait(Spec{Detach: true}, 60); got != 0 {
		t.Errorf("detached: %d ms, want the agent's default", got)
	}
}
