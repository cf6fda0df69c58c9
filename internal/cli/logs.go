package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
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
			q := url.Values{}
			if follow {
				q.Set("follow", "1")
			}
			if cmd.Flags().Changed("tail") {
				q.Set("tail", strconv.Itoa(tail))
			}
			return app.streamText(cmd.Context(), vmPath(args[0], "logs")+"?"+q.Encode())
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output until the VM stops")
	cmd.Flags().IntVar(&tail, "tail", 0, "print only the last N lines")
	return cmd
}

// streamText copies a plain-text response to stdout as it arrives.
func (a *App) streamText(ctx context.Context, path string) error {
	c, err := a.Client()
	if err != nil {
		return err
	}
	resp, err := c.Raw(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if _, err := io.Copy(a.Stdout, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read logs: %w", err)
	}
	return nil
}
