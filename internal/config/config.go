// Package config owns the daemon's TOML configuration file: its schema, its
// defaults and its validation.
//
// The defaults are not written twice: default.toml is both the documentation
// users read (`banger config default`) and the source Default decodes, so the
// two cannot drift apart.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

//go:embed default.toml
var defaultTOML string

// DefaultTOML is the commented default configuration file.
func DefaultTOML() string { return defaultTOML }

// Config is the whole configuration file.
type Config struct {
	Daemon      Daemon      `toml:"daemon" json:"daemon"`
	Image       Image       `toml:"image" json:"image"`
	Kernel      Kernel      `toml:"kernel" json:"kernel"`
	VM          VM          `toml:"vm" json:"vm"`
	Snapshot    Snapshot    `toml:"snapshot" json:"snapshot"`
	QEMU        QEMU        `toml:"qemu" json:"qemu"`
	Firecracker Firecracker `toml:"firecracker" json:"firecracker"`
	Network     Network     `toml:"network" json:"network"`
	Events      Events      `toml:"events" json:"events"`
	DockerAPI   DockerAPI   `toml:"docker_api" json:"docker_api"`

	// Defined are the keys the file set ("network.bridge"), so a default
	// can be told from the same value written out (see IsSet).
	Defined []string `toml:"-" json:"-"`
}

// IsSet reports whether the configuration file set key ("network.bridge"),
// even to its default value.
func (c Config) IsSet(key string) bool { return slices.Contains(c.Defined, key) }

// Daemon configures the daemon process itself.
type Daemon struct {
	SocketGroup string `toml:"socket_group" json:"socket_group"`
	LogLevel    string `toml:"log_level" json:"log_level"`
}

// Image configures pulls and imports.
type Image struct {
	Platform           string     `toml:"platform" json:"platform"`
	InsecureRegistries []string   `toml:"insecure_registries" json:"insecure_registries"`
	MaxLayerBytes      units.Size `toml:"max_layer_bytes" json:"max_layer_bytes"`
	HeadroomPercent    int        `toml:"headroom_percent" json:"headroom_percent"`
	AgentBinary        string     `toml:"agent_binary" json:"agent_binary"`
}

// Kernel configures the kernel catalog.
type Kernel struct {
	Default string `toml:"default" json:"default"`
}

// VM holds defaults for new VMs.
type VM struct {
	CPUs         int        `toml:"cpus" json:"cpus"`
	Memory       units.Size `toml:"memory" json:"memory"`
	VMM          string     `toml:"vmm" json:"vmm"`
	DiskStrategy string     `toml:"disk_strategy" json:"disk_strategy"`
	Disk         units.Size `toml:"disk" json:"disk"`
	StopTimeout  int        `toml:"stop_timeout" json:"stop_timeout"`
	AgentTimeout int        `toml:"agent_timeout" json:"agent_timeout"`
	BootTimeout  int        `toml:"boot_timeout" json:"boot_timeout"`
	// ParallelBoots is how many VMs boot at once; 0 is the host's CPUs.
	ParallelBoots int `toml:"parallel_boots" json:"parallel_boots"`
	// LogMaxSize and LogMaxFiles cap a VM's kept main process output:
	// LogMaxFiles files of LogMaxSize each, rotated.
	LogMaxSize  units.Size `toml:"log_max_size" json:"log_max_size"`
	LogMaxFiles int        `toml:"log_max_files" json:"log_max_files"`
}

// Snapshot configures boot snapshots.
type Snapshot struct {
	// Boot saves a booted guest per machine shape and restores it on
	// later starts of that shape.
	Boot bool `toml:"boot" json:"boot"`
}

// Events configures the event journal (`banger events`).
type Events struct {
	// Retain is how many of the latest events the daemon keeps for
	// clients resuming a stream.
	Retain int `toml:"retain" json:"retain"`
}

// DockerAPI configures the Docker Engine API socket (internal/dockerapi).
type DockerAPI struct {
	// Enabled serves it; Socket is its path, empty for the layout's
	// (/run/banger/docker.sock, or ROOT/run/docker.sock under --root).
	Enabled bool   `toml:"enabled" json:"enabled"`
	Socket  string `toml:"socket" json:"socket"`
}

// QEMU configures the QEMU backend.
type QEMU struct {
	Binary       string `toml:"binary" json:"binary"`
	Accel        string `toml:"accel" json:"accel"`
	User         string `toml:"user" json:"user"`
	CgroupParent string `toml:"cgroup_parent" json:"cgroup_parent"`
	Unconfined   string `toml:"unconfined" json:"unconfined"`
	// Virtiofsd serves shared directories (-v); empty finds it.
	Virtiofsd string `toml:"virtiofsd" json:"virtiofsd"`
}

// Firecracker configures the Firecracker backend and its jailer.
type Firecracker struct {
	Binary     string `toml:"binary" json:"binary"`
	Jailer     string `toml:"jailer" json:"jailer"`
	ChrootBase string `toml:"chroot_base" json:"chroot_base"`
	// User is who Firecracker runs as inside the jail; uid and gid, when
	// not 0, name the ids instead.
	User         string `toml:"user" json:"user"`
	UID          int    `toml:"uid" json:"uid"`
	GID          int    `toml:"gid" json:"gid"`
	CgroupParent string `toml:"cgroup_parent" json:"cgroup_parent"`
	KVMCheck     string `toml:"kvm_check" json:"kvm_check"`
}

// Network configures host networking.
type Network struct {
	Bridge     string `toml:"bridge" json:"bridge"`
	Subnet     string `toml:"subnet" json:"subnet"`
	NftTable   string `toml:"nft_table" json:"nft_table"`
	MTU        int    `toml:"mtu" json:"mtu"`
	IsolateVMs bool   `toml:"isolate_vms" json:"isolate_vms"`
}

// Default returns the built-in defaults (those documented in default.toml).
func Default() Config {
	var c Config
	if _, err := toml.Decode(defaultTOML, &c); err != nil {
		panic("config: embedded default.toml does not parse: " + err.Error())
	}
	return c
}

// Load reads the file at path over the defaults. A missing file is not an
// error when optional is true (the default path); it is when the user named
// the file. Unknown keys are rejected, so a typo never silently does
// nothing.
func Load(path string, optional bool) (Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && optional {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	return Parse(string(data), path)
}

// Parse decodes a configuration over the defaults and validates it. name is
// used in error messages.
func Parse(data, name string) (Config, error) {
	c := Default()
	md, err := toml.Decode(data, &c)
	if err != nil {
		return c, fmt.Errorf("config %s: %w: %w", name, errdefs.ErrInvalid, err)
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		return c, fmt.Errorf("config %s: %w: unknown key %q (see `banger config default`)", name, errdefs.ErrInvalid, undec[0].String())
	}
	for _, k := range md.Keys() {
		c.Defined = append(c.Defined, k.String())
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// Validate checks every value a later step would otherwise trip over.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{errdefs.ErrInvalid}, args...)...))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Daemon.LogLevel) {
		bad("daemon.log_level %q: want debug, info, warn or error", c.Daemon.LogLevel)
	}
	if c.Image.MaxLayerBytes <= 0 {
		bad("image.max_layer_bytes must be positive")
	}
	if c.Image.HeadroomPercent < 0 || c.Image.HeadroomPercent > 1000 {
		bad("image.headroom_percent %d: want 0..1000", c.Image.HeadroomPercent)
	}
	if c.Image.AgentBinary != "" && !filepath.IsAbs(c.Image.AgentBinary) {
		bad("image.agent_binary %q: want an absolute path", c.Image.AgentBinary)
	}
	if c.VM.CPUs < 1 || c.VM.CPUs > 255 {
		bad("vm.cpus %d: want 1..255", c.VM.CPUs)
	}
	if c.VM.Memory < units.Size(64*units.MiB) {
		bad("vm.memory %s: want at least 64MiB", units.FormatSize(int64(c.VM.Memory)))
	}
	if !slices.Contains(vmm.Choices(), c.VM.VMM) {
		bad("vm.vmm %q: want %s", c.VM.VMM, strings.Join(vmm.Choices(), ", "))
	}
	if !slices.Contains([]string{"auto", "reflink", "qcow2", "dm-snapshot", "copy"}, c.VM.DiskStrategy) {
		bad("vm.disk_strategy %q: want auto, reflink, qcow2, dm-snapshot or copy", c.VM.DiskStrategy)
	}
	if c.DockerAPI.Socket != "" && !filepath.IsAbs(c.DockerAPI.Socket) {
		bad("docker_api.socket %q: want an absolute path", c.DockerAPI.Socket)
	}
	if c.Events.Retain < 1 {
		bad("events.retain %d: want at least 1", c.Events.Retain)
	}
	if c.VM.StopTimeout < 0 {
		bad("vm.stop_timeout must not be negative")
	}
	if c.VM.AgentTimeout < 1 {
		bad("vm.agent_timeout %d: want at least 1 second", c.VM.AgentTimeout)
	}
	if c.VM.Disk < 0 {
		bad("vm.disk must not be negative")
	}
	if c.VM.BootTimeout < 1 {
		bad("vm.boot_timeout %d: want at least 1 second", c.VM.BootTimeout)
	}
	if c.VM.LogMaxSize < units.Size(4*units.KiB) {
		bad("vm.log_max_size %s: want at least 4KiB", units.FormatSize(int64(c.VM.LogMaxSize)))
	}
	if c.VM.LogMaxFiles < 1 {
		bad("vm.log_max_files %d: want at least 1", c.VM.LogMaxFiles)
	}
	if c.VM.ParallelBoots < 0 {
		bad("vm.parallel_boots %d: want 0 (the host's CPUs) or more", c.VM.ParallelBoots)
	}
	if !slices.Contains([]string{"auto", "kvm", "tcg"}, c.QEMU.Accel) {
		bad("qemu.accel %q: want auto, kvm or tcg", c.QEMU.Accel)
	}
	if !slices.Contains([]string{"refuse", "allow"}, c.QEMU.Unconfined) {
		bad("qemu.unconfined %q: want refuse or allow", c.QEMU.Unconfined)
	}
	if p := c.QEMU.CgroupParent; p == "" || filepath.IsAbs(p) || filepath.Clean(p) != p || strings.HasPrefix(p, "..") {
		bad("qemu.cgroup_parent %q: want a clean relative path such as banger.slice", p)
	}
	if !slices.Contains([]string{"hardware", "basic"}, c.Firecracker.KVMCheck) {
		bad("firecracker.kvm_check %q: want hardware or basic", c.Firecracker.KVMCheck)
	}
	if n := len(c.Network.Bridge); n == 0 || n > 15 {
		bad("network.bridge %q: want 1..15 characters (IFNAMSIZ)", c.Network.Bridge)
	}
	if p, err := netip.ParsePrefix(c.Network.Subnet); c.Network.Subnet != "auto" && (err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Masked() != p) {
		bad("network.subnet %q: want an IPv4 network such as 10.213.0.0/20 (at most /29), or auto", c.Network.Subnet)
	}
	if c.Network.NftTable == "" {
		bad("network.nft_table must not be empty")
	}
	if c.Network.MTU < 576 || c.Network.MTU > 65535 {
		bad("network.mtu %d: want 576..65535", c.Network.MTU)
	}
	return errors.Join(errs...)
}
