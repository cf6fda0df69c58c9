// Package daemon is banger's root daemon: the only writer of state. It is
// wiring and the API server: it opens the database, builds the image,
// kernel and VM services (internal/vms) on the host's backends, disks and
// network, has them reconcile with what the host holds, and serves the API
// socket, whose handlers convert between wire types (pkg/api) and the
// services' domain types.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/imagebuild"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/kernels"
	"github.com/bangerdev/banger/internal/networks"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/systemd"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Options configure a daemon.
type Options struct {
	Layout paths.Layout
	Config config.Config
	Log    *slog.Logger
	// Listener, when set, is the API socket a service manager passed
	// (socket activation, package systemd): Serve answers on it and
	// neither creates nor removes a socket file. Nil: Serve makes the
	// layout's socket itself.
	Listener net.Listener
	// Notify hears when the daemon answers requests and when it stops
	// (sd_notify); nil tells no one.
	Notify *systemd.Notifier
}

// Daemon is a running banger daemon.
type Daemon struct {
	layout  paths.Layout
	cfg     config.Config
	log     *slog.Logger
	store   *store.Store
	journal *events.Journal
	started time.Time
	lock    *os.File
	// listener is Options.Listener; notify is Options.Notify.
	listener net.Listener
	notify   *systemd.Notifier
	images   *images.Service
	kernels  *kernels.Service
	volumes  *volumes.Service
	networks *networks.Service
	netHost  *netHost
	// snapshots are the boot snapshots.
	snapshots *snapshots.Store
	// checkpoints are the running VMs' checkpoints (the same kind of
	// store).
	checkpoints *snapshots.Store
	vms         *vms.Service
	outputs     *vmlogs.Service
	parts       vmParts
	// ctx ends when the daemon closes; long-lived sessions (the SSH
	// proxy) and background probes use it.
	ctx    context.Context
	cancel context.CancelFunc
}

// New prepares a daemon: it creates the layout's directories, takes the
// state directory's lock and opens the database. Close releases them.
func New(opts Options) (*Daemon, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := opts.Layout.Ensure(); err != nil {
		return nil, fmt.Errorf("create daemon directories: %w", err)
	}
	lock, err := lockState(opts.Layout.LockFile())
	if err != nil {
		return nil, err
	}
	st, err := store.Open(opts.Layout.Database())
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	cfg := opts.Config
	if opts.Layout.State != paths.DefaultStateDir {
		// Side by side with the system daemon and others: a network of
		// its own wherever the config leaves it at the defaults.
		cfg.Network = hostnet.OwnNetwork(cfg.Network, opts.Layout.State, cfg.IsSet)
	}
	d := &Daemon{
		layout:  opts.Layout,
		cfg:     cfg,
		log:     log,
		store:   st,
		started: time.Now(),
		lock:    lock,

		listener: opts.Listener,
		notify:   opts.Notify,
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if d.journal, err = events.Open(st, events.Options{Retain: cfg.Events.Retain, Log: log}); err != nil {
		_ = d.Close()
		return nil, err
	}
	// Before reconcile: the exits it finds come after the daemon's start.
	d.publishDaemon(events.Start)
	// Both catalogs put the same guest agent into what they build.
	agent := func() (string, error) { return imagepull.LocateAgent(opts.Config.Image.AgentBinary) }
	d.images = images.New(images.Options{
		Layout: opts.Layout,
		Config: opts.Config.Image,
		Store:  st,
		Log:    log,
		Agent:  agent,
		InUse:  func(tx *store.Tx, img images.Image) string { return vms.ImageUser(tx, img.ID, img.Name) },
		Events: d.journal,
		// Prune removes a build's cache entries by default.
		IsBuildCache: imagebuild.IsCache,
	})
	d.kernels = kernels.New(kernels.Options{
		Layout:   opts.Layout,
		Config:   opts.Config.Kernel,
		MaxBytes: int64(opts.Config.Image.MaxLayerBytes),
		Store:    st,
		Log:      log,
		Agent:    agent,
		OCI:      d.images.Flatten,
		InUse:    func(tx *store.Tx, k kernelcat.Kernel) string { return vms.KernelUser(tx, k.Name, k.Default) },
		Events:   d.journal,
	})
	d.volumes = volumes.New(volumes.Options{Layout: opts.Layout, Store: st, Log: log, Users: vms.VolumeUsers, Events: d.journal})
	// Boot snapshots report to the journal; checkpoints are reported by
	// the VM service, which knows their VM.
	if d.snapshots, err = snapshots.New(opts.Layout.Snapshots(), log, snapshots.WithEvents(d.journal)); err != nil {
		_ = d.Close()
		return nil, err
	}
	// No save runs before this daemon starts one: every directory in the
	// store that is not a snapshot is what a killed daemon left.
	if left, err := d.snapshots.GC(false); len(left) > 0 || err != nil {
		log.Info("removed what interrupted snapshot saves left", "dirs", len(left), "error", err)
	}
	if d.checkpoints, err = snapshots.NewCheckpoints(opts.Layout.Checkpoints(), log); err != nil {
		_ = d.Close()
		return nil, err
	}
	if left, err := d.checkpoints.GC(false); len(left) > 0 || err != nil {
		log.Info("removed what interrupted checkpoints left", "dirs", len(left), "error", err)
	}
	if err := errors.Join(d.images.Reconcile(), d.kernels.Reconcile()); err != nil {
		_ = d.Close()
		return nil, err
	}
	if err := d.initVMs(); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

// lockWait is how long a starting daemon waits for the state lock. A
// daemon that just exited can hold it a moment longer through a child it
// was starting: between fork and exec the child shares the lock's open
// file (measured on a loaded host: ~0.1 s after the exit).
const lockWait = 2 * time.Second

// lockState takes an exclusive flock so a second daemon on the same state
// directory fails, within lockWait, with a clear message.
func lockState(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s: %w: another banger daemon is running on it", path, errdefs.ErrConflict)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// Close releases the database and the state lock. Running VMs live on;
// the next daemon adopts them.
func (d *Daemon) Close() error {
	d.cancel()
	if d.vms != nil {
		d.vms.Close()
	}
	if d.outputs != nil {
		d.outputs.Close()
	}
	if d.netHost != nil {
		d.netHost.close()
	}
	if d.parts.net != nil {
		_ = d.parts.net.Close()
	}
	if d.journal != nil {
		d.journal.Close()
	}
	err := d.store.Close()
	_ = d.lock.Close()
	return err
}

// Handler returns the daemon's HTTP API.
func (d *Daemon) Handler() http.Handler {
	rt := api.NewRouter(d.log)
	api.Handle(rt, api.GetVersion, func(*http.Request, api.None) (api.VersionInfo, error) {
		return api.VersionInfo{Version: version.String(), APIVersion: api.APIVersion, MinAPIVersion: api.MinAPIVersion}, nil
	})
	api.Handle(rt, api.GetInfo, d.info)
	api.Handle(rt, api.GetConfig, func(*http.Request, api.None) (json.RawMessage, error) { return json.Marshal(d.cfg) })
	d.registerImageRoutes(rt)
	d.vmRoutes(rt)
	d.kernelRoutes(rt)
	d.volumeRoutes(rt)
	d.networkRoutes(rt)
	d.snapshotRoutes(rt)
	d.checkpointRoutes(rt)
	d.commitRoutes(rt)
	d.eventRoutes(rt)
	return rt
}

func (d *Daemon) info(*http.Request, api.None) (api.Info, error) {
	return api.Info{
		Version:      version.String(),
		PID:          os.Getpid(),
		StateDir:     d.layout.State,
		RunDir:       d.layout.Run,
		CacheDir:     d.layout.Cache,
		Socket:       d.layout.Socket,
		StartedAt:    d.started,
		ProxyHostKey: string(ssh.MarshalAuthorizedKey(d.parts.proxyKey.PublicKey())),
	}, nil
}
