package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newEventsCmd(app *App) *cobra.Command {
	var q api.EventsQuery
	cmd := &cobra.Command{
		Use:   "events [--since SEQ|TIME] [--until SEQ|TIME] [--filter KEY=VALUE]... [--format json]",
		Short: "Follow what the daemon does: VMs created, started, exited, removed; images, volumes, ...",
		Long: `Print the daemon's events as they happen, as docker events does: one line
per change (time, sequence number, type, action, the object's name and
id, its attributes — a VM's labels and image, an exit's code, signal and
OOM kill). Types: vm, image, kernel, volume, checkpoint, snapshot,
daemon. Ctrl-C ends it.

Every event has a sequence number that only grows, also across daemon
restarts. --since SEQ prints the events after SEQ that the daemon still
keeps (the last events.retain, 10000 by default) before the live ones,
so a reader that stopped can go on without a gap or a repeat; when some
are no longer kept it says so on stderr. --since and --until also take
an RFC 3339 time or a duration before now (10m); bare digits are a
sequence number. With --until the command ends there.

--filter (repeatable): type=, action= (or event=), vm=ID|NAME, image=,
volume=, network=, label=KEY or label=KEY=VALUE. Values of one key are
alternatives; different keys must all match.

--format json prints each event as one JSON object per line (NDJSON),
or a Go template over its fields ({{.Seq}} {{.Action}} {{.Name}}
{{.Attributes}}).`,
		Example: `  banger events
  banger events --filter type=vm --filter action=exit
  banger events --filter vm=web --format json
  banger events --since 10m --until 0s
  banger events --since 1234          # resume after event 1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := parseFormat(cmd.Flag("format").Value.String())
			if err != nil {
				return err
			}
			return app.printEvents(cmd.Context(), q, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&q.Since, "since", "", "start after this sequence number, or at this time (RFC 3339) or duration ago (10m)")
	fl.StringVar(&q.Until, "until", "", "end at this sequence number, time or duration ago")
	fl.StringArrayVarP(&q.Filter, "filter", "f", nil, "only events matching KEY=VALUE (type, action, vm, image, volume, label)")
	formatFlag(cmd, "table")
	return cmd
}

// printEvents prints the stream until its until, an error, or Ctrl-C.
func (a *App) printEvents(ctx context.Context, q api.EventsQuery, f outputFormat) error {
	c, err := a.Banger()
	if err != nil {
		return err
	}
	if f.header != "" {
		// A stream cannot align its columns ahead: the header once, then
		// each event's line as it comes.
		if _, err := fmt.Fprintln(a.Stdout, f.header); err != nil {
			return err
		}
		f.header = ""
	}
	end, err := c.Events(ctx, q, func(l api.EventsLine) error {
		if l.Lost != nil {
			_, _ = fmt.Fprintln(a.Stderr, "banger: "+lostText(*l.Lost))
			return nil
		}
		return printEvent(a.Stdout, f, *l.Event)
	})
	if ctx.Err() != nil {
		return nil // Ctrl-C: the end the user asked for
	}
	var ended *api.Error
	if end.Seq > 0 && (errors.As(err, &ended) || errors.Is(err, errdefs.ErrUnavailable)) {
		// The daemon ended the stream (this reader fell behind, or it is
		// stopping) or went away: say where to go on from.
		return fmt.Errorf("events stopped after event %d: %w; `banger events --since %d` goes on from there", end.Seq, err, end.Seq)
	}
	return err
}

// lostText says which events the daemon no longer keeps.
func lostText(l api.EventsLost) string {
	which := fmt.Sprintf("events %d to %d are", l.From, l.To)
	switch l.From {
	case 0:
		which = fmt.Sprintf("events up to %d are", l.To)
	case l.To:
		which = fmt.Sprintf("event %d is", l.From)
	}
	return fmt.Sprintf("%s no longer kept (the daemon keeps the last %d, events.retain); going on with event %d", which, l.Retain, l.To+1)
}

// printEvent prints one event as f says: a table line, JSON, a template.
func printEvent(w io.Writer, f outputFormat, e api.EventRecord) error {
	switch f.kind {
	case "json":
		return json.NewEncoder(w).Encode(e) // one line each: NDJSON
	case "template":
		return f.execute(w, e)
	}
	_, err := fmt.Fprintln(w, eventLine(e))
	return err
}

// eventLine is an event's table line: time, seq, type, action, name (id),
// attributes by key.
func eventLine(e api.EventRecord) string {
	obj := e.Name
	if e.ID != "" && e.ID != e.Name {
		obj += " (" + shortID(e.ID) + ")"
	}
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
		attrs = append(attrs, k+"="+e.Attributes[k])
	}
	return strings.TrimRight(fmt.Sprintf("%s  %-6d %-10s %-8s %s  %s",
		e.Time.Local().Format(time.RFC3339Nano), e.Seq, e.Type, e.Action, obj, strings.Join(attrs, ", ")), " ")
}
