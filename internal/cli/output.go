package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
)

// formatFlag adds --format (table or json) to cmd.
func formatFlag(cmd *cobra.Command, dflt string) *string { //nolint:unparam // every command defaults to table today; the default stays a choice
	f := new(string)
	cmd.Flags().StringVar(f, "format", dflt, "output format: table or json")
	return f
}

// checkFormat validates a --format value.
func checkFormat(f string, allowed ...string) error {
	for _, a := range allowed {
		if f == a {
			return nil
		}
	}
	return fmt.Errorf("%w: --format %q: want one of %s", errdefs.ErrInvalid, f, strings.Join(allowed, ", "))
}

// fetchAndShow calls e (with in and the path values params) and prints its
// answer: as JSON with --format json, else with show. Every listing and
// inspecting command uses it.
func fetchAndShow[In, T any](cmd *cobra.Command, app *App, format string, e api.Endpoint[In, T], in In, params []string, show func(T) error) error {
	if err := checkFormat(format, "table", "json"); err != nil {
		return err
	}
	c, err := app.Client()
	if err != nil {
		return err
	}
	v, err := api.Do(cmd.Context(), c, e, in, params...)
	if err != nil {
		return err
	}
	if format == "json" {
		return printJSON(app.Stdout, v)
	}
	return show(v)
}

// removeEach calls e for each name, in order, and says "Removed NAME" for
// each; it stops at the first error. The rm commands of the catalogs use it.
func removeEach(cmd *cobra.Command, app *App, e api.Endpoint[api.None, api.None], names []string) error {
	c, err := app.Client()
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, err := api.Do(cmd.Context(), c, e, api.None{}, name); err != nil {
			return err
		}
		if _, err := fmt.Fprintf(app.Stdout, "Removed %s\n", name); err != nil {
			return err
		}
	}
	return nil
}

// rowsOf turns a table builder into fetchAndShow's printer.
func rowsOf[T any](app *App, rows func(T) [][]string) func(T) error {
	return func(v T) error { return table(app.Stdout, rows(v)) }
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
