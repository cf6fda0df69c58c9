package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newUpdateCmd(app *App) *cobra.Command {
	var policy string
	cmd := &cobra.Command{
		Use:   "update --restart POLICY VM...",
		Short: "Change VMs' restart policy",
		Long: `Change the restart policy of VMs, as docker update --restart does: no,
on-failure[:MAX], always or unless-stopped. It applies from each VM's next
exit.`,
		Example: `  banger update --restart always web
  banger update --restart no web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("restart") {
				return fmt.Errorf("%w: nothing to update; give --restart POLICY", errdefs.ErrInvalid)
			}
			p, err := restartPolicy(policy)
			if err != nil {
				return err
			}
			req := api.UpdateVMRequest{Restart: &p}
			return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
				_, err := api.Do(ctx, c, api.UpdateVM, req, ref)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&policy, "restart", "", "restart policy: no, on-failure[:MAX], always or unless-stopped")
	return cmd
}

// restartPolicy reads a --restart value as the wire's policy: no is the
// zero policy.
func restartPolicy(s string) (api.RestartPolicy, error) {
	p, err := restart.Parse(s)
	if err != nil {
		return api.RestartPolicy{}, fmt.Errorf("%w: --restart: %w", errdefs.ErrInvalid, err)
	}
	if p.IsNone() {
		return api.RestartPolicy{}, nil
	}
	return api.RestartPolicy{Name: string(p.Mode), MaxRetries: p.MaxRetries}, nil
}

// stopFlags adds stop's -t SECONDS and -s SIGNAL to cmd (stop and
// restart); the query it returns carries the timeout only when -t was
// given, so the daemon's vm.stop_timeout applies otherwise.
func stopFlags(cmd *cobra.Command) func() api.StopVMQuery {
	timeout := cmd.Flags().IntP("time", "t", 0, "seconds between the stop signal and SIGKILL (default vm.stop_timeout)")
	signal := cmd.Flags().StringP("signal", "s", "", "signal to send first: a name (TERM, INT, QUIT) or number (default: the image's STOPSIGNAL, else TERM)")
	return func() api.StopVMQuery {
		q := api.StopVMQuery{Signal: *signal}
		if cmd.Flags().Changed("time") {
			q.Timeout = timeout
		}
		return q
	}
}

func newRestartCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "restart [-t SECONDS] [-s SIGNAL] VM...",
		Short: "Stop VMs as `banger stop` does and start them again",
		Example: `  banger restart web
  banger restart -t 2 web`,
		Args: cobra.MinimumNArgs(1),
	}
	query := stopFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q := query()
		return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
			pv := newProgress(app.Stderr)
			defer pv.Finish()
			_, err := api.Stream(ctx, c, api.RestartVM, q, pv.watch(), ref)
			return err
		})
	}
	return cmd
}
