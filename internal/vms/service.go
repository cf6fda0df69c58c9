package vms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/keylock"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Catalog resolves what a VM boots.
type Catalog interface {
	// Image finds an image by name or id (prefix).
	Image(ref string) (Image, error)
	// Kernel finds a kernel by name ("" is the default) with its initrd
	// up to date.
	Kernel(name string) (Kernel, error)
}

// Backends are the VMM backends (a *vmm.Set).
type Backends interface {
	Pick(ctx context.Context, choice string) (vmm.Backend, vmm.Probe, error)
	Get(name string) (vmm.Backend, bool)
	Backends() []vmm.Backend
}

// Disks makes and removes VMs' writable disks (a *rootfs.Manager).
type Disks interface {
	Probe(dir string) rootfs.Capabilities
	Create(ctx context.Context, req rootfs.Request, strategy string, record func(rootfs.Disk) error) (rootfs.Disk, error)
	Activate(ctx context.Context, req rootfs.Request, record func(rootfs.Disk) error) (rootfs.Disk, error)
	Deactivate(ctx context.Context, vmID string) error
	Remove(ctx context.Context, vmID, dir string) error
	// Clone copies a disk a paused VM holds (a checkpoint's, a fork's).
	Clone(ctx context.Context, d rootfs.Disk, dst string) (rootfs.Disk, error)
	// RawCopy writes a raw ext4 image of what a paused or stopped VM's
	// disk holds (DiskCopy).
	RawCopy(ctx context.Context, d rootfs.Disk, dst string) error
}

// Network is host networking (a *hostnet.Network).
type Network interface {
	Setup(ctx context.Context) error
	Attach(ctx context.Context, vmID string, ports []hostnet.Port, record func(hostnet.Resources) error) (hostnet.Attachment, error)
	Detach(ctx context.Context, vmID string) error
	Release(ctx context.Context, vmID string) error
	Inventory(ctx context.Context) (hostnet.Inventory, error)
	Remove(ctx context.Context, o hostnet.Owned) error
}

// Agent is one session with a guest agent (an *agentclient.Client).
type Agent interface {
	SSH() *ssh.Client
	// ShutdownWith asks the agent to stop the main process and power off.
	ShutdownWith(ctx context.Context, o agentclient.ShutdownOptions) error
	// Signal sends a signal to the main process.
	Signal(ctx context.Context, sig string) error
	// Apply gives a held agent the VM's own config and the host's clock
	// (bootcfg.Config.Hold); the agent then starts the main process.
	Apply(ctx context.Context, cfg bootcfg.Config, now time.Time) error
	// Sync flushes the guest's file systems to its disks.
	Sync(ctx context.Context) error
	// Reidentify gives an agent restored from a checkpoint of another VM
	// this VM's identity and the host's clock; its processes go on.
	Reidentify(ctx context.Context, cfg bootcfg.Config, now time.Time) error
	// MakeContainer makes container id's root in a pod VM over lower
	// (a guest path); RemoveContainer removes it (absent is fine).
	MakeContainer(ctx context.Context, id, lower string) error
	RemoveContainer(ctx context.Context, id string) error
	Close() error
	Wait() error
}

// AgentDialer runs the agent protocol's handshake on conn, pinning the
// guest's host key.
type AgentDialer func(ctx context.Context, conn net.Conn, hostKey ssh.PublicKey) (Agent, error)

// Deps are what the service works with.
type Deps struct {
	Layout paths.Layout
	// VM is the [vm] config section; Bridge the configured bridge (whose
	// taps are this daemon's).
	VM     config.VM
	Bridge string
	Store  *store.Store
	// Catalog, Backends and Disks are required.
	Catalog  Catalog
	Backends Backends
	Disks    Disks
	// Network is nil when host networking cannot work here; NetworkErr
	// says why (only --network none VMs start then).
	Network    Network
	NetworkErr error
	// Namespaces attaches VMs to network namespaces others made
	// (`--network netns:…`); nil refuses such VMs (NetworkErr says why).
	Namespaces Namespaces
	// Networks are the user-defined networks; nil refuses `--network
	// NAME`.
	Networks Networks
	// Volumes holds named volumes; nil when there are none to attach.
	// Shares starts shared directories' virtiofsd and makes directory
	// images; nil means the host's (volumes.Host with defaults).
	Volumes VolumeCatalog
	Shares  Shares
	// Agents dials guest agents; ClientKey is the public key it
	// authenticates with, which every guest's boot config authorizes.
	Agents    AgentDialer
	ClientKey ssh.PublicKey
	// Snapshots is the boot snapshot store; nil boots every VM cold.
	// SnapshotBoot is snapshot.boot: whether starts save and restore
	// boot snapshots (a VM created --cold never does).
	Snapshots    SnapshotStore
	SnapshotBoot bool
	// Checkpoints is the checkpoint store (the same kind of store, in
	// its own directory); nil refuses checkpoints and forks.
	Checkpoints SnapshotStore
	// Outputs keeps the main processes' output (package vmlogs); nil
	// keeps none (the guest agent buffers it for an attached client).
	Outputs Outputs
	// Events hears of every change of a VM or a checkpoint once it is
	// recorded (events.go); nil reports none.
	Events events.Publisher
	Log    *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Service is the VM service.
type Service struct {
	Deps
	// ctx ends when the service closes; exit watchers and long-lived
	// sessions use it.
	ctx    context.Context
	cancel context.CancelFunc
	live   liveSet
	// restarts are the restart policy's pending starts (policy.go).
	restarts restartSet
	// locks serializes lifecycle operations per VM.
	locks keylock.Set
	net   networkOnce
	// boots are the boot slots (vm.parallel_boots).
	boots chan struct{}
}

// New returns the service. Call Reconcile before serving requests, and
// Close when done.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Catalog == nil || d.Backends == nil || d.Disks == nil || d.Agents == nil || d.ClientKey == nil {
		return nil, errors.New("vms: store, catalog, backends, disks, agent dialer and client key are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	d.Events = events.Or(d.Events)
	if d.Shares == nil {
		d.Shares = volumes.Host{}
	}
	s := &Service{Deps: d, boots: bootSlots(d.VM.ParallelBoots)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.net.n = d.Network
	return s, nil
}

// Close stops the exit watchers and drops agent connections. Running VMs
// live on; the next daemon adopts them.
func (s *Service) Close() {
	s.cancel()
	s.restarts.cancelAll()
	for _, lv := range s.live.all() {
		lv.agent.close()
	}
}

// Running reports how many VMs run.
func (s *Service) Running() int { return len(s.live.all()) }

// now is the clock in UTC.
func (s *Service) now() time.Time { return s.Now().UTC() }

// networkOnce brings banger's bridge and nft table up on first use.
type networkOnce struct {
	n     Network
	ready bool
}

// TeardownNetwork removes banger's bridge and nft table (uninstall, tests);
// refused while VMs run. Stopped VMs keep their leases and get a new
// bridge at their next start.
func (s *Service) TeardownNetwork(ctx context.Context, teardown func(context.Context) error) error {
	unlock := s.locks.Lock(networkLock)
	defer unlock()
	if n := s.Running(); n > 0 {
		return fmt.Errorf("%w: %d VMs are running; stop them first", errdefs.ErrConflict, n)
	}
	s.net.ready = false
	return teardown(ctx)
}

// EnsureNetwork sets the default network up once; a user network's host
// side asks it first.
func (s *Service) EnsureNetwork(ctx context.Context) error {
	_, err := s.ensureNetwork(ctx)
	return err
}

// ensureNetwork sets host networking up once.
func (s *Service) ensureNetwork(ctx context.Context) (Network, error) {
	if s.Network == nil {
		return nil, fmt.Errorf("host networking is not available: %w; use --network none", s.NetworkErr)
	}
	unlock := s.locks.Lock(networkLock)
	defer unlock()
	if !s.net.ready {
		if err := s.Network.Setup(ctx); err != nil {
			return nil, err
		}
		s.net.ready = true
	}
	return s.Network, nil
}

// networkLock is the lock key of host network setup (VM ids are hex).
const networkLock = "network"
