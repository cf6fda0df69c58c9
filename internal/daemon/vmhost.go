package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/vmm/firecracker"
	"github.com/bangerdev/banger/internal/vmm/qemu"
)

// vmState is the daemon's VM machinery: keys, backends, disks, host
// networking and the registry of running VMs.
type vmState struct {
	// ctx ends when the daemon closes; long-lived sessions (the SSH proxy)
	// use it.
	ctx    context.Context
	cancel context.CancelFunc

	keys     daemonKeys
	backends *backendSet
	disks    *vmDisks
	live     liveSet
	vmLocks  vmLocks

	// net is nil when host networking cannot work here (not root); netErr
	// says why. netSetup brings the bridge and table up on first use.
	net      *hostnet.Network
	netErr   error
	netMu    sync.Mutex
	netReady bool
}

// daemonKeys are the daemon's long-lived SSH identities (keys dir, 0700).
type daemonKeys struct {
	// client authenticates the daemon to every guest agent.
	client ssh.Signer
	// proxy is the host key of the daemon's SSH front door.
	proxy ssh.Signer
}

func (d *Daemon) initVMs() error {
	d.ctx, d.cancel = context.WithCancel(context.Background())
	client, err := agentclient.LoadOrCreateKey(filepath.Join(d.layout.Keys(), "client_ed25519"))
	if err != nil {
		return fmt.Errorf("daemon client key: %w", err)
	}
	proxy, err := agentclient.LoadOrCreateKey(filepath.Join(d.layout.Keys(), "proxy_host_ed25519"))
	if err != nil {
		return fmt.Errorf("daemon proxy host key: %w", err)
	}
	d.keys = daemonKeys{client: client.Signer, proxy: proxy.Signer}
	d.backends = newBackendSet(
		firecracker.New(d.cfg.Firecracker),
		qemu.New(qemu.WithBinary(d.cfg.QEMU.Binary), qemu.WithAccel(d.cfg.QEMU.Accel)),
	)
	d.disks = newVMDisks(d.layout, d.cfg.VM.DiskStrategy)
	if os.Geteuid() != 0 {
		d.netErr = fmt.Errorf("the daemon does not run as root")
	} else if d.net, err = hostnet.New(d.cfg.Network, d.store, hostnet.WithLogger(d.log)); err != nil {
		d.net, d.netErr = nil, err
	}
	d.reconcile(d.ctx)
	// Probe the backends now (QEMU's KVM check boots a tiny guest), so the
	// first start does not pay for it.
	go func() {
		for _, name := range d.backends.order {
			d.backends.probe(d.ctx, name)
		}
	}()
	return nil
}

// ensureNetwork brings banger's bridge and nft table up, once.
func (d *Daemon) ensureNetwork(ctx context.Context) error {
	if d.net == nil {
		return fmt.Errorf("host networking is not available: %w; use --network none", d.netErr)
	}
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.netReady {
		return nil
	}
	if err := d.net.Setup(ctx); err != nil {
		return err
	}
	d.netReady = true
	return nil
}

// TeardownNetwork removes banger's bridge and nft table and restores
// ip_forward (tests use it; a production daemon leaves them for the VMs
// that outlive it). It is idempotent.
func (d *Daemon) TeardownNetwork(ctx context.Context) error {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.net == nil {
		return nil
	}
	d.netReady = false
	return d.net.Teardown(ctx)
}

// networkTeardownHandler removes banger's bridge and nft table (and
// restores ip_forward), for uninstalling; refused while VMs run. Stopped
// VMs keep their leases and get a new bridge at their next start.
func (d *Daemon) networkTeardownHandler(r *http.Request) (any, error) {
	if n := len(d.live.all()); n > 0 {
		return nil, fmt.Errorf("%w: %d VMs are running; stop them first", errdefs.ErrConflict, n)
	}
	return nil, d.TeardownNetwork(r.Context())
}

func (d *Daemon) closeVMs() {
	if d.cancel != nil {
		d.cancel()
	}
	for _, lv := range d.live.all() {
		lv.closeAgent()
	}
	if d.net != nil {
		_ = d.net.Close()
	}
}

// loadAgentHostKey reads the agent host key banger generated for a VM.
func loadAgentHostKey(vmDir string) (agentclient.Key, error) {
	b, err := os.ReadFile(filepath.Join(vmDir, agentHostKeyFile))
	if err != nil {
		return agentclient.Key{}, err
	}
	return agentclient.ParseKey(b)
}

// agentHostKeyFile is the agent's host key in a VM's directory; kept
// across restarts so the pinned key stays the same.
const agentHostKeyFile = "agent_host_ed25519"
