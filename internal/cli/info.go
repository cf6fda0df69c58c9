package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/api"
)

func newInfoCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the client's and the daemon's version and directories",
		Example: `  banger info
  banger info --format json`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := parseFormat(*format)
		if err != nil {
			return err
		}
		info, err := fetch(cmd, app, api.GetInfo, api.None{})
		if err != nil {
			return err
		}
		both := struct {
			Client string   `json:"client_version"`
			Daemon api.Info `json:"daemon"`
		}{version.String(), info}
		return printObject(app.Stdout, f, both, func() error {
			return table(app.Stdout, [][]string{
				{"Client version:", version.String()},
				{"Daemon version:", fmt.Sprintf("%s (pid %d, started %s)", info.Version, info.PID, ago(info.StartedAt, time.Now()))},
				{"Socket:", info.Socket},
				{"State dir:", info.StateDir},
				{"Run dir:", info.RunDir},
				{"Cache dir:", info.CacheDir},
			})
		})
	}
	return cmd
}
