package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

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

func newDoctorCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "doctor [--format json]",
		Short: "Show what the daemon detected on this host and what banger will use",
		Example: `  banger doctor
  banger doctor --format json`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkFormat(*format, "table", "json"); err != nil {
			return err
		}
		c, err := app.Client()
		if err != nil {
			return err
		}
		var rep api.DoctorReport
		if err := c.Call(cmd.Context(), "GET", "/v1/doctor", nil, &rep); err != nil {
			return err
		}
		if *format == "json" {
			return printJSON(app.Stdout, rep)
		}
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
		for _, k := range []string{"vmm", "accel", "disk", "network"} {
			if v, ok := rep.Uses[k]; ok {
				uses = append(uses, []string{"  " + k, v})
			}
		}
		return table(app.Stdout, uses)
	}
	return cmd
}

func newGCCmd(app *App) *cobra.Command {
	var dry bool
	cmd := &cobra.Command{
		Use:   "gc [--dry-run] [--format json]",
		Short: "Remove host objects banger owns that no VM explains (leaked taps, rules, processes, files)",
		Example: `  banger gc --dry-run
  banger gc`,
		Args: cobra.NoArgs,
	}
	format := formatFlag(cmd, "table")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "only list what would be removed")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := checkFormat(*format, "table", "json"); err != nil {
			return err
		}
		c, err := app.Client()
		if err != nil {
			return err
		}
		q := ""
		if dry {
			q = "?dry_run=1"
		}
		var rep api.GCReport
		if err := c.Call(cmd.Context(), "POST", "/v1/gc"+q, nil, &rep); err != nil {
			return err
		}
		if *format == "json" {
			return printJSON(app.Stdout, rep)
		}
		if len(rep.Objects) == 0 {
			_, err := fmt.Fprintln(app.Stdout, "nothing to collect")
			return err
		}
		rows := [][]string{{"KIND", "NAME", "OWNER", "REMOVED", "ERROR"}}
		for _, o := range rep.Objects {
			rows = append(rows, []string{o.Kind, o.Name, o.Owner, strconv.FormatBool(o.Removed), o.Error})
		}
		return table(app.Stdout, rows)
	}
	return cmd
}
