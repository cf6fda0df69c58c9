package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/internal/vmm/firecracker"
	"github.com/bangerdev/banger/internal/vmm/qemu"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
)

// vmParts are the host edges the VM service is built on, kept for doctor.
type vmParts struct {
	// proxyKey is the host key of the daemon's SSH front door.
	proxyKey ssh.Signer
	// clientKey is the fingerprint of the daemon's client key, which
	// every boot snapshot's key carries.
	clientKey string
	backends  *vmm.Set
	disks     *rootfs.Manager
	// net is nil when host networking cannot work here (not root);
	// netErr says why.
	net    *hostnet.Network
	netErr error
}

// initVMs builds the VM service on the host's backends, disks and
// network, reconciles it with what the host holds, and probes the
// backends in the background (QEMU's KVM check boots a tiny guest) so the
// first start does not pay for it.
func (d *Daemon) initVMs() error {
	client, err := agentclient.LoadOrCreateKey(filepath.Join(d.layout.Keys(), "client_ed25519"))
	if err != nil {
		return fmt.Errorf("daemon client key: %w", err)
	}
	proxy, err := agentclient.LoadOrCreateKey(filepath.Join(d.layout.Keys(), "proxy_host_ed25519"))
	if err != nil {
		return fmt.Errorf("daemon proxy host key: %w", err)
	}
	d.outputs = d.newOutputs()
	d.parts = vmParts{
		proxyKey:  proxy.Signer,
		clientKey: ssh.FingerprintSHA256(client.PublicKey()),
		backends:  newBackends(d.cfg),
		disks:     rootfs.New(),
	}
	deps := vms.Deps{
		Layout: d.layout, VM: d.cfg.VM, Bridge: d.cfg.Network.Bridge, Store: d.store,
		Catalog: catalog{d}, Backends: d.parts.backends, Disks: d.parts.disks,
		Agents: func(ctx context.Context, conn net.Conn, hostKey ssh.PublicKey) (vms.Agent, error) {
			return agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey, Signer: client.Signer})
		},
		ClientKey: client.PublicKey(),
		Volumes:   d.volumes,
		Snapshots: d.snapshots, SnapshotBoot: d.cfg.Snapshot.Boot, Checkpoints: d.checkpoints,
		Outputs: d.outputs,
		Events:  d.journal,
		Shares:  volumes.Host{Virtiofsd: d.cfg.QEMU.Virtiofsd},
		Log:     d.log,
	}
	if os.Geteuid() != 0 {
		d.parts.netErr = fmt.Errorf("the daemon does not run as root")
	} else if d.parts.net, err = hostnet.New(d.cfg.Network, d.store, hostnet.WithLogger(d.log), hostnet.WithOwner(d.layout.State)); err != nil {
		d.parts.netErr = err
	}
	deps.NetworkErr = d.parts.netErr
	if d.parts.net != nil {
		deps.Network = d.parts.net
	}
	if os.Geteuid() == 0 {
		// A namespace's tap needs neither the bridge nor the table: it
		// works even where banger's own network could not be set up.
		deps.Namespaces = hostnet.NewNamespaces()
	}
	d.initNetworks()
	deps.Networks = d.netHost
	if d.vms, err = vms.New(deps); err != nil {
		return err
	}
	d.reconcileNetworks(context.Background())
	d.vms.Reconcile(context.Background())
	d.reconcileScratch(context.Background())
	go d.parts.backends.ProbeAll(d.ctx)
	return nil
}

// newBackends are the daemon's VMMs in auto's order.
func newBackends(cfg config.Config) *vmm.Set {
	return vmm.NewSet(
		firecracker.New(cfg.Firecracker),
		qemu.New(qemuOptions(cfg.QEMU)...),
	)
}

// qemuOptions configures the QEMU backend from [qemu]: confined as
// qemu.user unless it is empty.
func qemuOptions(c config.QEMU) []qemu.Option {
	opts := []qemu.Option{qemu.WithBinary(c.Binary), qemu.WithAccel(c.Accel)}
	if c.User != "" {
		opts = append(opts, qemu.WithConfinement(qemu.Confine{
			User: c.User, CgroupParent: c.CgroupParent, AllowUnconfined: c.Unconfined == "allow",
		}))
	}
	return opts
}

// TeardownNetwork removes the user networks' bridges, tables and relays
// (their records stay), banger's bridge and nft table, and restores
// ip_forward (tests and uninstalls; a production daemon leaves them for
// the VMs that outlive it). It is refused while VMs run, and idempotent.
func (d *Daemon) TeardownNetwork(ctx context.Context) error {
	if d.parts.net == nil {
		return nil
	}
	return d.vms.TeardownNetwork(ctx, d.teardownAll)
}

// RemoveAllVMs removes every VM, killing running ones (tests and
// uninstalls use it).
func (d *Daemon) RemoveAllVMs(ctx context.Context) error { return d.vms.RemoveAll(ctx) }

// catalog is the VM service's view of the image and kernel catalogs.
type catalog struct{ d *Daemon }

func (c catalog) Image(ref string) (vms.Image, error) {
	img, err := c.d.images.Find(ref)
	if err != nil {
		return vms.Image{}, err
	}
	return vms.Image{ID: img.ID, Name: img.Name, Rootfs: img.Rootfs, SizeBytes: img.SizeBytes, AgentVersion: img.AgentVersion, HeldBoot: img.HeldBoot,
		Digest: img.Digest, AgentSHA256: img.AgentSHA256, Config: img.Config}, nil
}

func (c catalog) Kernel(name string) (vms.Kernel, error) {
	k, err := c.d.kernels.Resolve(name)
	if err != nil {
		return vms.Kernel{}, err
	}
	return vms.Kernel{Name: k.Name, Vmlinux: k.Vmlinux, BzImage: k.BzImage, Initrd: k.Initrd, SHA256: k.VmlinuxSHA256,
		VirtioFS: kernelcat.HasVirtioFS(k.Checks)}, nil
}
