package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/api"
)

func newLogsCmd(app *App) *cobra.Command {
	var (
		follow bool
		tail   int
	)
	cmd := &cobra.Command{
		Use:   "logs [-f] [--tail N] VM",
		Short: "Show a VM's serial console",
		Example: `  banger logs dev
  banger logs -f --tail 20 dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := api.VMLogsQuery{Follow: follow}
			if cmd.Flags().Changed("tail") {
				q.Tail = &tail
			}
			return app.printLogs(cmd.Context(), q, args[0])
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the VM stops")
	cmd.Flags().IntVar(&tail, "tail", 0, "print only the last N lines")
	return cmd
}

// printLogs copies a VM's console log to stdout as it arrives.
func (a *App) printLogs(ctx context.Context, q api.VMLogsQuery, ref string) error {
	c, err := a.Client()
	if err != nil {
		return err
	}
	logs, err := api.Open(ctx, c, api.VMLogs, q, ref)
	if err != nil {
		return err
	}
	defer func() { _ = logs.Close() }()
	if _, err := io.Copy(a.Stdout, logs); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return nil
}
