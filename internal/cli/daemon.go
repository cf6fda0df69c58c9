package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/systemd"
)

func newDaemonCmd(app *App) *cobra.Command {
	var root, socket, cfgPath, logLevel string
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the banger daemon in the foreground (as root)",
		Long: `Run the banger daemon in the foreground. It owns all state: images,
kernels, VMs and their host resources, and serves the API socket the CLI
talks to. It needs root for taps, nftables and loop devices.

By default state lives in /var/lib/banger, the blob cache in
/var/cache/banger, runtime files and the socket in /run/banger (HOME plays
no part: a system service has none). --root moves all of them under one
directory, so several daemons can run side by side.

Under systemd (make install; systemctl enable --now banger.socket) the
daemon serves the socket banger.socket passes it (LISTEN_FDS) and says when
it answers requests (sd_notify READY=1), after adopting the VMs that kept
running while it was down; started by hand it makes its socket itself.`,
		Example: `  sudo banger daemon
  sudo banger daemon --root /tmp/bg --socket /tmp/bg/banger.sock
  banger --host unix:///tmp/bg/banger.sock image ls`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			layout := paths.Default()
			if root != "" {
				layout = paths.Rooted(root)
			}
			if socket != "" {
				layout.Socket = socket
			}
			cfg, err := config.Load(cfgPath, !cmd.Flags().Changed("config"))
			if err != nil {
				return err
			}
			if logLevel != "" {
				cfg.Daemon.LogLevel = logLevel
				if err := cfg.Validate(); err != nil {
					return err
				}
			}
			log := slog.New(slog.NewTextHandler(app.Stderr, &slog.HandlerOptions{Level: parseLevel(cfg.Daemon.LogLevel)}))
			if os.Geteuid() != 0 {
				log.Warn("not running as root: images and kernels work, VMs need root for taps, nftables and loop devices")
			}
			opts, err := serviceOptions(log)
			if err != nil {
				return err
			}
			opts.Layout, opts.Config = layout, cfg
			d, err := daemon.New(opts)
			if err != nil {
				if opts.Listener != nil {
					_ = opts.Listener.Close()
				}
				return err
			}
			defer func() { _ = d.Close() }()
			if err := d.Serve(cmd.Context()); err != nil {
				return fmt.Errorf("daemon: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", "", "keep all daemon state, runtime files, cache and the socket under this directory")
	cmd.Flags().StringVar(&socket, "socket", "", "API socket path (default /run/banger/banger.sock, or ROOT/run/banger.sock with --root)")
	cmd.Flags().StringVar(&cfgPath, "config", paths.DefaultConfig, "configuration file (banger config default prints the documented defaults)")
	cmd.Flags().StringVar(&logLevel, "log-level", "", "override daemon.log_level: debug, info, warn or error")
	return cmd
}

// serviceOptions takes what a service manager hands the daemon: the
// socket of banger.socket (socket activation) and the readiness socket.
// Started by hand there is neither, and the daemon makes its own socket.
func serviceOptions(log *slog.Logger) (daemon.Options, error) {
	notify, err := systemd.NewNotifier()
	if err != nil {
		log.Warn("readiness will not be reported", "error", err)
	}
	ls, err := systemd.Listeners()
	if err != nil {
		return daemon.Options{}, err
	}
	opts := daemon.Options{Log: log, Notify: notify}
	switch len(ls) {
	case 0:
	case 1:
		opts.Listener = ls[0]
		log.Info("socket activated", "socket", ls[0].Addr().String(), "name", ls[0].Name)
	default:
		for _, l := range ls {
			_ = l.Close()
		}
		return opts, fmt.Errorf("socket activation: %d sockets passed; the daemon serves one (banger.socket has one ListenStream=)", len(ls))
	}
	// Recovery (adopting running VMs) can take a while; `systemctl
	// status` says so until the daemon is ready.
	_ = notify.Status("starting: adopting running VMs")
	return opts, nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
