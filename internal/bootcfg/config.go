package bootcfg

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// Defaults the agent applies to zero values.
const (
	DefaultInterface = "eth0"
	DefaultInitPath  = "/sbin/init"
	DefaultStopGrace = 10 * time.Second
	DefaultExitWait  = 5 * time.Second
	// EntropySeedSize is what NewEntropySeed returns: 512 bits, twice what
	// the kernel needs to call its CRNG ready.
	EntropySeedSize = 64
	// MaxEntropySeed bounds the seed the agent credits.
	MaxEntropySeed = 512
)

// Config is everything the host tells the agent at boot. The JSON names are
// the format (see the package doc); keep them stable.
type Config struct {
	// VMID is the VM's id (for logs and the console line).
	VMID string `json:"vm_id"`
	// Hostname is set with sethostname; empty keeps the kernel's.
	Hostname string `json:"hostname,omitempty"`
	// Network configures one NIC; nil means no NIC, only lo.
	Network *Network `json:"network,omitempty"`
	// SSH holds the agent's identity and who may connect.
	SSH SSH `json:"ssh"`
	// Main is the main process (OCI entrypoint+cmd). Nil runs nothing: the
	// VM serves exec until it is shut down.
	Main *Process `json:"main,omitempty"`
	// Detached says no host attaches to Main from the start (run -d): its
	// output is kept in a ring instead of blocking it. Either way the VM
	// ends when Main does, as a container does.
	Detached bool `json:"detached,omitempty"`
	// Init hands PID 1 to the image's own init (InitPath) after the agent's
	// early duties; the agent keeps serving as a child. Excludes Main.
	Init bool `json:"init,omitempty"`
	// InitPath is the image's init; empty means DefaultInitPath.
	InitPath string `json:"init_path,omitempty"`
	// Channels are what the agent listens on.
	Channels Channels `json:"channels"`
	// Mounts are the VM's volumes, mounted before Main (or the image's
	// init) starts.
	Mounts []Mount `json:"mounts,omitempty"`
	// GrowRoot grows the root ext4 online to fill its device before Main
	// starts (the host only enlarges the disk file).
	GrowRoot bool `json:"grow_root,omitempty"`
	// Tmpfs are mounted before Main starts.
	Tmpfs []Tmpfs `json:"tmpfs,omitempty"`
	// EntropySeed is random bytes from the host, credited to the kernel's
	// pool with RNDADDENTROPY so the CRNG is ready early (the entropy
	// trap: docs/architecture.md). JSON: base64.
	EntropySeed []byte `json:"entropy_seed,omitempty"`
	// StopGraceMS is how long a stopping main process gets between SIGTERM
	// and SIGKILL; 0 means DefaultStopGrace.
	StopGraceMS int `json:"stop_grace_ms,omitempty"`
	// ExitWaitMS is how long the agent keeps a finished main process's
	// status for a host to collect before it powers off; 0 means
	// DefaultExitWait.
	ExitWaitMS int `json:"exit_wait_ms,omitempty"`
	// Hold is a held boot, the one a boot snapshot is saved from: the
	// agent mounts the API file systems, credits EntropySeed and serves
	// its channels with SSH, and nothing else — no hostname, network,
	// mounts, tmpfs or main process, and the root stays read-only (the
	// command line says ro), so the disk is still the image's. The VM's
	// own config then comes in the host's apply request
	// (proto.RequestApply), after a cold boot or a restore alike. A held
	// config carries none of what apply brings, and its drive is padded
	// to HeldDriveSize, so every VM's config drive is the size the
	// snapshot's guest read at boot.
	Hold bool `json:"hold,omitempty"`
}

// HeldDriveSize is the size of every held config drive (Encode pads a
// held config to it): a restored guest keeps the drive size its snapshot
// read at boot.
const HeldDriveSize = 64 << 10

// Network is one NIC's static configuration.
type Network struct {
	// Interface is the guest's name for the NIC; empty means eth0. When MAC
	// is set, the NIC with that address is used whatever its name.
	Interface string `json:"interface,omitempty"`
	MAC       string `json:"mac,omitempty"`
	// Address is the guest's address and prefix, e.g. 10.88.0.2/24.
	Address netip.Prefix `json:"address"`
	// Gateway is the default route's next hop; invalid (absent) = no route.
	Gateway netip.Addr `json:"gateway,omitzero"`
	MTU     int        `json:"mtu,omitempty"`
	// DNS servers for /etc/resolv.conf; none leaves resolv.conf alone.
	DNS    []netip.Addr `json:"dns,omitempty"`
	Search []string     `json:"search,omitempty"`
	// Options are resolv.conf's options ("ndots:2", "edns0").
	Options []string `json:"options,omitempty"`
}

// SSH is the agent's SSH identity.
type SSH struct {
	// HostKey is the agent's private host key in OpenSSH PEM form
	// (ed25519, generated on the host so the guest needs no entropy).
	HostKey string `json:"host_key"`
	// AuthorizedKeys are public keys in authorized_keys form; only these
	// may connect.
	AuthorizedKeys []string `json:"authorized_keys"`
}

// Process is a process the agent starts, container-style.
type Process struct {
	// Argv is entrypoint+cmd; Argv[0] is looked up in Env's PATH.
	Argv []string `json:"argv"`
	// Env is the full environment (KEY=value); exec sessions start from it
	// too, as docker exec does.
	Env []string `json:"env,omitempty"`
	// WorkingDir defaults to "/".
	WorkingDir string `json:"working_dir,omitempty"`
	// User is an OCI user: name, uid, name:group or uid:gid; empty = root.
	User string `json:"user,omitempty"`
	// TTY runs the process on a pseudo-terminal (`run -t`).
	TTY bool `json:"tty,omitempty"`
	// Stdin keeps the process's stdin open for an attached host (`run -i`);
	// otherwise it reads /dev/null.
	Stdin bool `json:"stdin,omitempty"`
	// StopSignal is what a stop sends first (the image's STOPSIGNAL);
	// empty means SIGTERM.
	StopSignal string `json:"stop_signal,omitempty"`
}

// Tmpfs is a tmpfs the agent mounts before Main starts (`--tmpfs`).
type Tmpfs struct {
	// Path is absolute.
	Path string `json:"path"`
	// Options are tmpfs mount options ("size=64m,mode=1777"); empty means
	// the kernel's defaults.
	Options string `json:"options,omitempty"`
}

// Channels name where the agent serves its SSH protocol; zero values are
// off. Hosts normally set all three to the vmm.Agent* constants.
type Channels struct {
	// VirtioPort is the QEMU virtio-serial port name (vmm.AgentPortName).
	VirtioPort string `json:"virtio_port,omitempty"`
	// VsockPort is the AF_VSOCK port (vmm.AgentVsockPort).
	VsockPort uint32 `json:"vsock_port,omitempty"`
	// TCPPort is the TCP fallback on the VM's address (vmm.AgentTCPPort).
	TCPPort uint16 `json:"tcp_port,omitempty"`
}

// StopGrace returns the effective SIGTERM-to-SIGKILL grace period.
func (c Config) StopGrace() time.Duration {
	if c.StopGraceMS > 0 {
		return time.Duration(c.StopGraceMS) * time.Millisecond
	}
	return DefaultStopGrace
}

// ExitWait returns how long a finished main's status waits for a host.
func (c Config) ExitWait() time.Duration {
	if c.ExitWaitMS > 0 {
		return time.Duration(c.ExitWaitMS) * time.Millisecond
	}
	return DefaultExitWait
}

// EffectiveInitPath returns InitPath or its default.
func (c Config) EffectiveInitPath() string {
	if c.InitPath != "" {
		return c.InitPath
	}
	return DefaultInitPath
}

// InterfaceName returns the NIC's name or its default.
func (n Network) InterfaceName() string {
	if n.Interface != "" {
		return n.Interface
	}
	return DefaultInterface
}

// NewEntropySeed returns EntropySeedSize random bytes from the host.
func NewEntropySeed() ([]byte, error) {
	b := make([]byte, EntropySeedSize)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("bootcfg: entropy seed: %w", err)
	}
	return b, nil
}

// Validate checks c for what the agent needs to boot; errors wrap
// errdefs.ErrInvalid and name the field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("bootcfg: "+format+": %w", append(args, errdefs.ErrInvalid)...))
	}
	if c.Hostname != "" && !ValidHostname(c.Hostname) {
		bad("hostname %q is not a valid host name", c.Hostname)
	}
	if c.SSH.HostKey == "" {
		bad("ssh.host_key is empty")
	} else if _, err := ssh.ParsePrivateKey([]byte(c.SSH.HostKey)); err != nil {
		bad("ssh.host_key: %v", err)
	}
	if len(c.SSH.AuthorizedKeys) == 0 {
		bad("ssh.authorized_keys is empty: nobody could connect")
	}
	for i, k := range c.SSH.AuthorizedKeys {
		if _, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil {
			bad("ssh.authorized_keys[%d]: %v", i, err)
		}
	}
	if c.Main != nil && len(c.Main.Argv) == 0 {
		bad("main.argv is empty")
	}
	if c.Main != nil && c.Init {
		bad("main and init are exclusive: with init the image's init runs instead")
	}
	if n := c.Network; n != nil {
		if !n.Address.IsValid() {
			bad("network.address is missing")
		}
		if n.MTU != 0 && (n.MTU < 68 || n.MTU > 65535) {
			bad("network.mtu %d is outside 68..65535", n.MTU)
		}
		if n.Interface != "" && (len(n.Interface) > 15 || strings.ContainsAny(n.Interface, "/ \x00")) {
			bad("network.interface %q is not an interface name", n.Interface)
		}
		for _, w := range slices.Concat(n.Search, n.Options) {
			if w == "" || strings.ContainsAny(w, " \t\n\x00#;") {
				bad("network search domain or option %q is empty or has a space, control character or comment sign", w)
			}
		}
	}
	if c.Channels == (Channels{}) {
		bad("channels: none set, the host could never reach the agent")
	}
	for _, t := range c.Tmpfs {
		if !mountPoint(t.Path) {
			bad("tmpfs path %q: want a clean absolute path other than /", t.Path)
		}
		if strings.ContainsAny(t.Options, " \n\x00") {
			bad("tmpfs options %q contain a space or control character", t.Options)
		}
	}
	if len(c.EntropySeed) > MaxEntropySeed {
		bad("entropy_seed is %d bytes, at most %d", len(c.EntropySeed), MaxEntropySeed)
	}
	validateMounts(c.Mounts, bad)
	if c.Hold && (c.Hostname != "" || c.Network != nil || c.Main != nil || c.Init || len(c.Mounts) > 0 || len(c.Tmpfs) > 0 || c.GrowRoot) {
		bad("hold: a held boot carries no hostname, network, main, init, mounts, tmpfs or grow_root (they come in the apply request)")
	}
	if c.StopGraceMS < 0 || c.ExitWaitMS < 0 {
		bad("stop_grace_ms and exit_wait_ms must not be negative")
	}
	return errors.Join(errs...)
}

// ValidHostname accepts RFC 1123 host names of at most 64 bytes (the
// kernel's limit).
func ValidHostname(h string) bool {
	if len(h) > 64 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
				return false
			}
		}
	}
	return true
}
