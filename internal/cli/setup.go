package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/hostsetup"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/pkg/api"
)

func newSetupCmd(app *App) *cobra.Command {
	var root, cfgPath string
	var dry bool
	cmd := &cobra.Command{
		Use:   "setup [--root DIR] [--dry-run]",
		Short: "Prepare this host for banger (as root): the socket group, the VMM user, the directories; then check the host",
		Long: `Prepare this host for banger, once, as root. It creates what the daemon's
configuration names and the host lacks:

  - the group daemon.socket_group (banger): its members use banger without
    sudo, as the daemon's socket is mode 0660 and owned by that group
    (banger.socket needs the group to exist);
  - the user qemu.user (banger-vmm), which QEMU runs as: no login, no home,
    no capabilities; added to the kvm group when the host has one;
  - the daemon's directories (those of --root DIR, or /var/lib/banger,
    /var/cache/banger and /run/banger).

Then it checks the host as banger doctor does — the VMMs and how they
would be confined, device-mapper, the disk strategies, virtiofsd, the
guest agent — without a daemon, and prints what it found. Running it again
changes nothing. --dry-run lists the steps instead.

To run banger as a systemd service (the daemon started on the first
request to its socket, VMs surviving a restart of the service):

  sudo make install                  # PREFIX=/usr/local by default
  sudo banger setup
  sudo systemctl daemon-reload
  sudo systemctl enable --now banger.socket`,
		Example: `  sudo banger setup
  sudo banger setup --dry-run
  sudo banger setup --root /tmp/bg
  sudo systemctl enable --now banger.socket   # after make install
  sudo usermod -aG banger "$USER"     # then log in again to use banger without sudo`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.Flags().StringVar(&root, "root", "", "prepare the directories of a daemon started with --root DIR")
	cmd.Flags().StringVar(&cfgPath, "config", paths.DefaultConfig, "the daemon's configuration file")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only list what would be done")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := parseFormat(*format)
		if err != nil {
			return err
		}
		cfg, err := config.Load(cfgPath, !cmd.Flags().Changed("config"))
		if err != nil {
			return err
		}
		layout := paths.Default()
		if root != "" {
			layout = paths.Rooted(root)
		}
		in := hostsetup.Inputs{SocketGroup: cfg.Daemon.SocketGroup, VMMUser: cfg.QEMU.User, Layout: layout}
		steps := hostsetup.Plan(in, hostsetup.Observe(in))
		if !dry && len(steps) > 0 {
			if os.Geteuid() != 0 {
				return fmt.Errorf("setup needs root: run `sudo banger setup` (or --dry-run to see the %d steps)", len(steps))
			}
			if err := hostsetup.Run(cmd.Context(), steps, hostsetup.ExecRunner); err != nil {
				return err
			}
		}
		host := daemon.HostChecks(cmd.Context(), cfg, layout)
		report := struct {
			DryRun bool             `json:"dry_run"`
			Steps  []hostsetup.Step `json:"steps"`
			// Host is what banger doctor would say of the host.
			Host api.DoctorReport `json:"host"`
		}{dry, append([]hostsetup.Step{}, steps...), host}
		return printObject(app.Stdout, f, report, func() error {
			if err := printSetup(app, dry, steps); err != nil {
				return err
			}
			_, _ = fmt.Fprintln(app.Stdout)
			return printDoctor(app, host)
		})
	}
	return cmd
}

// printSetup lists what setup did (or, with --dry-run, would do).
func printSetup(app *App, dry bool, steps []hostsetup.Step) error {
	if len(steps) == 0 {
		_, err := fmt.Fprintln(app.Stdout, "nothing to do: this host is set up")
		return err
	}
	verb := "done"
	if dry {
		verb = "would"
	}
	for _, s := range steps {
		if _, err := fmt.Fprintf(app.Stdout, "%s: %s\n", verb, s.Desc); err != nil {
			return err
		}
	}
	return nil
}
