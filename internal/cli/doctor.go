package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
)

func newDoctorCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor [--format FORMAT]",
		Short: "Show what the daemon detected on this host and what banger will use",
		Example: `  banger doctor
  banger doctor --format json`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fetchAndShow(cmd, app, *format, api.Doctor, api.None{}, nil, func(rep api.DoctorReport) error { return printDoctor(app, rep) })
	}
	return cmd
}

func printDoctor(app *App, rep api.DoctorReport) error {
	rows := [][]string{{"CHECK", "OK", "DETAIL"}}
	for _, ch := range rep.Checks {
		ok := "no"
		if ch.OK {
			ok = "yes"
		}
		rows = append(rows, []string{ch.Name, ok, ch.Detail})
	}
	if err := table(app.Stdout, rows); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(app.Stdout)
	uses := [][]string{{"banger will use:", ""}}
	for _, k := range []string{"vmm", "accel", "confinement", "disk", "network"} {
		if v, ok := rep.Uses[k]; ok {
			uses = append(uses, []string{"  " + k, v})
		}
	}
	return table(app.Stdout, uses)
}

func newGCCmd(app *App) *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [--format FORMAT]",
		Short: "Remove host objects banger owns that no VM explains (leaked taps, rules, processes, files)",
		Example: `  banger gc --dry-run
  banger gc`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only list what would be removed")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fetchAndShow(cmd, app, *format, api.GC, api.GCQuery{DryRun: dry}, nil, func(rep api.GCReport) error {
			if len(rep.Objects) == 0 {
				_, err := fmt.Fprintln(app.Stdout, "nothing to collect")
				return err
			}
			rows := [][]string{{"KIND", "NAME", "OWNER", "REMOVED", "ERROR"}}
			for _, o := range rep.Objects {
				rows = append(rows, []string{o.Kind, o.Name, o.Owner, strconv.FormatBool(o.Removed), o.Error})
			}
			return table(app.Stdout, rows)
		})
	}
	return cmd
}
