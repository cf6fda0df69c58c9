package cli

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/paths"
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
directory, so several daemons can run side by side.`,
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
			d, err := daemon.New(daemon.Options{Layout: layout, Config: cfg, Log: log})
			if err != nil {
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

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}
