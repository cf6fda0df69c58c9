package cli

import (
	"cmp"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

func newVolumeCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "volume",
		Short: "Manage named volumes: data that outlives VMs",
		Long: `A named volume is an ext4 disk the daemon keeps until you remove it.
` + "`run -v NAME:/GUEST/DIR`" + ` attaches it to a VM as a drive; it outlives the VM
(rm of the VM leaves it) and works on every VMM. A volume is one file
system, so one running VM holds it at a time. The first time a VM mounts
a new volume, the volume takes what the image has at that path (content,
owner and mode), as docker's named volumes do.

To share a host directory live instead, give its path: -v /HOST/DIR:/GUEST/DIR.`,
		Example: `  banger volume create pgdata
  banger run -d -v pgdata:/var/lib/postgresql/data postgres-image
  banger volume ls
  banger volume rm pgdata`,
	}
	cmd.AddCommand(newVolumeCreateCmd(app), newVolumeLsCmd(app), newVolumeInspectCmd(app), newVolumeRmCmd(app))
	return cmd
}

func newVolumeCreateCmd(app *App) *cobra.Command {
	var size units.Size
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an empty named volume",
		Long: `Create an empty named volume. The file is sparse: it takes the space the
guest writes, up to --size.`,
		Example: `  banger volume create pgdata
  banger volume create cache --size 50G`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().Var(&size, "size", "largest size the volume can grow to, e.g. 20G (default 10G)")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.CreateVolume, api.CreateVolumeRequest{Name: args[0], SizeBytes: int64(size)}, nil, func(v api.Volume) error {
			_, err := fmt.Fprintln(app.Stdout, v.Name)
			return err
		})
	}
	return cmd
}

func newVolumeLsCmd(app *App) *cobra.Command {
	l := listing[api.Volume]{id: func(v api.Volume) string { return v.Name }, rows: volumeRows}
	cmd := &cobra.Command{
		Use:     "ls [-q] [--format FORMAT]",
		Aliases: []string{"list"},
		Short:   "List named volumes",
		Example: `  banger volume ls
  banger volume ls --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(filters) ([]api.Volume, error) { return fetch(cmd, app, api.ListVolumes, api.None{}) })
		},
	}
	l.addFlags(cmd, "volume names")
	return cmd
}

func volumeRows(vs []api.Volume) [][]string {
	rows := [][]string{{"NAME", "SIZE", "ATTACHED TO", "CREATED"}}
	now := time.Now()
	for _, v := range vs {
		rows = append(rows, []string{v.Name, units.FormatSize(v.SizeBytes), cmp.Or(shortID(v.AttachedTo), "-"), ago(v.Created, now)})
	}
	return rows
}

func newVolumeInspectCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect NAME",
		Short: "Show one volume: its file, its use of the host's disk, the VMs that mount it",
		Example: `  banger volume inspect pgdata
  banger volume inspect pgdata --format json | jq -r .path`,
		Args: cobra.ExactArgs(1),
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.GetVolume, api.None{}, args, func(v api.Volume) error {
			return table(app.Stdout, [][]string{
				{"Name:", v.Name},
				{"Path:", v.Path},
				{"Size:", units.FormatSize(v.SizeBytes) + " (" + units.FormatSize(v.AllocatedBytes) + " used on the host)"},
				{"UUID:", v.UUID},
				{"Used by:", cmp.Or(strings.Join(v.UsedBy, ", "), "-")},
				{"Attached to:", cmp.Or(v.AttachedTo, "-")},
				{"Created:", v.Created.Local().Format(time.RFC3339) + " (" + ago(v.Created, time.Now()) + ")"},
			})
		})
	}
	return cmd
}

func newVolumeRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove volumes and their data (refused while a VM mounts one)",
		Example: `  banger volume rm pgdata
  banger volume rm cache scratch`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removeEach(cmd, app, api.RemoveVolume, args)
		},
	}
}
