package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
)

// fetch calls e (with in and the path values params) on the daemon.
func fetch[In, T any](cmd *cobra.Command, app *App, e api.Endpoint[In, T], in In, params ...string) (T, error) {
	var zero T
	c, err := app.Client()
	if err != nil {
		return zero, err
	}
	return api.Do(cmd.Context(), c, e, in, params...)
}

// formatAndClient checks --format, then connects: what a command that
// prints its answer does first.
func formatAndClient(app *App, format string) (outputFormat, *api.Client, error) {
	f, err := parseFormat(format)
	if err != nil {
		return outputFormat{}, nil, err
	}
	c, err := app.Client()
	return f, c, err
}

// fetchAndShow checks --format, calls e (with in and the path values
// params) and prints its one answer with printObject: JSON, the template,
// or show. The reports (doctor, gc), volume create/inspect, checkpoint
// and snapshot prune use it.
func fetchAndShow[In, T any](cmd *cobra.Command, app *App, format string, e api.Endpoint[In, T], in In, params []string, show func(T) error) error {
	f, err := parseFormat(format)
	if err != nil {
		return err
	}
	v, err := fetch(cmd, app, e, in, params...)
	if err != nil {
		return err
	}
	return printObject(app.Stdout, f, v, func() error { return show(v) })
}

// removeEach calls e for each name, in order, and says "Removed NAME" for
// each; it stops at the first error. The rm commands of the catalogs use it.
func removeEach(cmd *cobra.Command, app *App, e api.Endpoint[api.None, api.None], names []string) error {
	return removeEachAs(cmd, app, e, names, func(name string, _ api.None) string { return name })
}

// removeEachAs is removeEach of an endpoint answering the removed object:
// it says "Removed " and what says of each.
func removeEachAs[T any](cmd *cobra.Command, app *App, e api.Endpoint[api.None, T], names []string, what func(name string, obj T) string) error {
	c, err := app.Client()
	if err != nil {
		return err
	}
	for _, name := range names {
		obj, err := api.Do(cmd.Context(), c, e, api.None{}, name)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintln(app.Stdout, "Removed "+what(name, obj)); err != nil {
			return err
		}
	}
	return nil
}

// table writes aligned columns (the first row is usually a header).
func table(w io.Writer, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	for _, r := range rows {
		if _, err := fmt.Fprintln(tw, strings.Join(r, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// shortID is an id as listings print it: its first 12 characters.
func shortID(id string) string { return id[:min(12, len(id))] }

// ago prints a time as a short relative duration ("5 minutes ago").
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 48*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	default:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
