package cli

import (
	"cmp"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

func newSnapshotCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "Manage boot snapshots: saved machines new VMs start from",
		Long: `A boot snapshot is a machine the daemon saved once its guest agent was
ready, before the main process started. It fits only VMs of the same image
(digest), kernel, guest agent, VMM, CPUs, memory, disk size and drives; a
snapshot whose image, kernel or agent is gone or changed is stale, and no
VM can use it again.

Snapshots belong to the daemon, not to a VM: removing the VM whose boot
made one leaves it. A damaged snapshot is found before use (each file's
sha256 is checked) and removed.`,
		Example: `  banger snapshot ls
  banger snapshot rm 3f2a9c
  banger snapshot prune
  banger snapshot prune --all`,
	}
	cmd.AddCommand(newSnapshotLsCmd(app), newSnapshotRmCmd(app), newSnapshotPruneCmd(app))
	return cmd
}

func newSnapshotLsCmd(app *App) *cobra.Command {
	l := listing[api.Snapshot]{id: func(s api.Snapshot) string { return s.ID }, rows: snapshotRows}
	cmd := &cobra.Command{
		Use:     "ls [-q] [--format FORMAT]",
		Aliases: []string{"list"},
		Short:   "List boot snapshots: what each belongs to, its size, whether it is stale",
		Example: `  banger snapshot ls
  banger snapshot ls --format json | jq '.[] | select(.stale) | .id'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(filters) ([]api.Snapshot, error) { return fetch(cmd, app, api.ListSnapshots, api.None{}) })
		},
	}
	l.addFlags(cmd, "snapshot ids")
	return cmd
}

func snapshotRows(sns []api.Snapshot) [][]string {
	rows := [][]string{{"ID", "IMAGE", "KERNEL", "VMM", "CPUS", "MEMORY", "SIZE", "CREATED", "STATUS"}}
	now := time.Now()
	for _, s := range sns {
		status := "ready"
		if s.Stale {
			status = "stale"
		}
		rows = append(rows, []string{
			s.ID, cmp.Or(s.Image, "-"), cmp.Or(s.Kernel, "-"), s.Backend, strconv.Itoa(s.CPUs),
			units.FormatSize(int64(s.MemoryMiB) * units.MiB), units.FormatSize(s.SizeBytes), ago(s.Created, now), status,
		})
	}
	return rows
}

func newSnapshotRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "rm ID...",
		Aliases: []string{"remove"},
		Short:   "Remove boot snapshots (VMs restored from one keep running)",
		Long: `Remove boot snapshots by id or unambiguous id prefix. The next VM of the
same shape boots cold and saves a new one.`,
		Example: `  banger snapshot rm 3f2a9c
  banger snapshot rm $(banger snapshot ls -q)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removeEachAs(cmd, app, api.RemoveSnapshot, args, func(_ string, s api.Snapshot) string {
				return s.ID + " (" + units.FormatSize(s.SizeBytes) + ")"
			})
		},
	}
}

func newSnapshotPruneCmd(app *App) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "prune [--all] [--format FORMAT]",
		Short: "Remove stale boot snapshots (or all of them with --all)",
		Long: `Remove the boot snapshots no VM can use any more: their image was removed
or pulled again with another digest, their kernel was removed or replaced,
or the guest agent changed. With --all, remove every snapshot.`,
		Example: `  banger snapshot prune
  banger snapshot prune --all --format json`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&all, "all", false, "remove every snapshot, not only stale ones")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fetchAndShow(cmd, app, *format, api.PruneSnapshots, api.PruneSnapshotsRequest{All: all}, nil, func(removed []api.Snapshot) error {
			var total int64
			for _, s := range removed {
				total += s.SizeBytes
				if _, err := fmt.Fprintf(app.Stdout, "Removed %s (%s, %s)\n", s.ID, cmp.Or(s.Image, "-"), units.FormatSize(s.SizeBytes)); err != nil {
					return err
				}
			}
			_, err := fmt.Fprintf(app.Stdout, "Reclaimed %s\n", units.FormatSize(total))
			return err
		})
	}
	return cmd
}
