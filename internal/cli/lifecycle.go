package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/api"
)

func newRestartCmd(app *App) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   "restart [-t SECONDS] VM...",
		Short: "Stop VMs as `banger stop` does and start them again",
		Example: `  banger restart web
  banger restart -t 2 web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var q api.StopVMQuery
			if cmd.Flags().Changed("time") {
				q.Timeout = &timeout
			}
			return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
				pv := newProgress(app.Stderr)
				defer pv.Finish()
				res, err := api.Stream(ctx, c, api.RestartVM, q, pv.watch(), ref)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(app.Stdout, res.VM.Name)
				return err
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 0, "seconds between the stop signal and SIGKILL (default vm.stop_timeout)")
	return cmd
}
