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

func newCheckpointCmd(app *App) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "checkpoint [--name NAME] [--format FORMAT] VM",
		Short: "Save a running VM's state and disk as a checkpoint new VMs start from",
		Long: `Pause a running VM, save its state (CPU, devices, memory) and a copy of its
disk, and resume it: the VM goes on as it was, frozen only for the save
and the disk's copy (the answer says how long). ` + "`banger run --from NAME`" + `
then starts any number of new VMs from the checkpoint, each with its
processes, files and memory as they were and an identity of its own
(hostname, MAC, address, SSH host key, entropy, clock).

The checkpoint is named NAME, or VM-YYYYMMDD-HHMMSS. Checkpoints belong to
the daemon, not to the VM: removing the VM leaves them; ` + "`banger checkpoint rm`" + `
removes one. Each file's sha256 is checked before a checkpoint is used.

A VM with volumes or shared directories (-v, --mount) is refused for now:
their contents are not part of the checkpoint.`,
		Example: `  banger checkpoint dev
  banger checkpoint --name warm dev && banger run -d --from warm --name dev2
  banger checkpoint ls
  banger checkpoint rm warm`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&name, "name", "", "the checkpoint's name (default VM-YYYYMMDD-HHMMSS)")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.CheckpointVM, api.CheckpointRequest{Name: name}, args, func(ck api.Checkpoint) error {
			_, err := fmt.Fprintf(app.Stdout, "Checkpoint %s of %s (%s, %s; the VM was frozen %s)\n",
				ck.Name, args[0], ck.ID, units.FormatSize(ck.SizeBytes), frozen(ck))
			return err
		})
	}
	cmd.AddCommand(newCheckpointLsCmd(app), newCheckpointRmCmd(app))
	return cmd
}

// frozen is how long the checkpoint's source VM was paused, to the
// millisecond.
func frozen(ck api.Checkpoint) time.Duration {
	return time.Duration(ck.FrozenMS * float64(time.Millisecond)).Round(time.Millisecond)
}

func newCheckpointLsCmd(app *App) *cobra.Command {
	l := listing[api.Checkpoint]{id: func(c api.Checkpoint) string { return c.Name }, rows: checkpointRows}
	cmd := &cobra.Command{
		Use:     "ls [-q] [--format FORMAT]",
		Aliases: []string{"list"},
		Short:   "List checkpoints: their source VM, image, size and age",
		Example: `  banger checkpoint ls
  banger checkpoint ls --format json | jq -r '.[].name'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(filters) ([]api.Checkpoint, error) {
				return fetch(cmd, app, api.ListCheckpoints, api.None{})
			})
		},
	}
	l.addFlags(cmd, "checkpoint names")
	return cmd
}

func checkpointRows(cks []api.Checkpoint) [][]string {
	rows := [][]string{{"NAME", "ID", "VM", "IMAGE", "VMM", "CPUS", "MEMORY", "SIZE", "CREATED"}}
	now := time.Now()
	for _, c := range cks {
		rows = append(rows, []string{
			c.Name, c.ID, cmp.Or(c.VMName, c.VM), cmp.Or(c.Image, "-"), c.Backend, strconv.Itoa(c.CPUs),
			units.FormatSize(int64(c.MemoryMiB) * units.MiB), units.FormatSize(c.SizeBytes), ago(c.Created, now),
		})
	}
	return rows
}

func newCheckpointRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "rm CHECKPOINT...",
		Aliases: []string{"remove"},
		Short:   "Remove checkpoints (VMs started from one keep running)",
		Long: `Remove checkpoints by name, id or unambiguous id prefix. VMs started from
one keep running: their disks are their own copies.`,
		Example: `  banger checkpoint rm warm
  banger checkpoint rm $(banger checkpoint ls -q)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removeEachAs(cmd, app, api.RemoveCheckpoint, args, func(_ string, c api.Checkpoint) string {
				return c.Name + " (" + units.FormatSize(c.SizeBytes) + ")"
			})
		},
	}
}
