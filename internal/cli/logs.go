package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newLogsCmd(app *App) *cobra.Command {
	var (
		follow, timestamps, console bool
		tail, since, until          string
	)
	cmd := &cobra.Command{
		Use:   "logs [-f] [--since T] [--until T] [--tail N] [-t] [--console] VM",
		Short: "Show a VM's main process output (or its serial console)",
		Long: `Show what the VM's main process wrote, as docker logs does: its stdout
here on stdout, its stderr on stderr (with a TTY, one stream). The
output is kept on the host across stop/start and daemon restarts, in
vm.log_max_files files of vm.log_max_size each.

--since and --until take a duration before now (10m, 1h30m), an RFC 3339
time (2026-01-02T15:04:05Z), a date, or Unix seconds. -f keeps printing
new output until the main process ends. --console shows the serial
console (the kernel's and the agent's messages) instead.`,
		Example: `  banger logs web
  banger logs -f --tail 20 web
  banger logs --since 10m -t web
  banger logs --console -f dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := api.VMLogsQuery{Follow: follow, Console: console, Timestamps: timestamps}
			n, err := vmlogs.ParseTail(tail)
			if err != nil {
				return fmt.Errorf("%w: --tail %w", errdefs.ErrInvalid, err)
			}
			if n >= 0 {
				q.Tail = &n
			}
			now := time.Now()
			for _, f := range []struct {
				name, val string
				dst       *string
			}{{"since", since, &q.Since}, {"until", until, &q.Until}} {
				t, err := vmlogs.ParseTime(f.val, now)
				if err != nil {
					return fmt.Errorf("%w: --%s %w", errdefs.ErrInvalid, f.name, err)
				}
				if !t.IsZero() {
					*f.dst = t.UTC().Format(time.RFC3339Nano)
				}
			}
			if console && (q.Since != "" || q.Until != "" || timestamps) {
				return fmt.Errorf("%w: --console takes only -f and --tail", errdefs.ErrInvalid)
			}
			return app.printLogs(cmd.Context(), q, args[0])
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new output until the main process ends (with --console: until the VM stops)")
	fl.StringVar(&tail, "tail", "all", "print only the last N lines, or all")
	fl.StringVar(&since, "since", "", "only output since this time or duration ago (10m, 2026-01-02T15:04:05Z)")
	fl.StringVar(&until, "until", "", "only output before this time or duration ago")
	fl.BoolVarP(&timestamps, "timestamps", "t", false, "prefix each line with the time it was written (RFC 3339)")
	fl.BoolVar(&console, "console", false, "show the serial console instead of the main process's output")
	return cmd
}

// printLogs copies a VM's output (or console) here as it arrives; an
// interrupt (of -f) ends it quietly.
func (a *App) printLogs(ctx context.Context, q api.VMLogsQuery, ref string) error {
	c, err := a.Banger()
	if err != nil {
		return err
	}
	if err := c.Logs(ctx, ref, q, a.Stdout, a.Stderr); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
