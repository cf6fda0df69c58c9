package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

// statsInterval is how often streaming stats refresh (docker's second).
const statsInterval = time.Second

func newStatsCmd(app *App) *cobra.Command {
	var noStream bool
	var format *string
	cmd := &cobra.Command{
		Use:   "stats [--no-stream] [--format json|table|TEMPLATE] [VM...]",
		Short: "Show running VMs' resource use, refreshed every second",
		Long: `Show each running VM's (or the named VMs') resource use, as docker stats
does, refreshed every second until interrupted; --no-stream prints once.

  CPU %      the VMM process's CPU use over half a second (100% = one host CPU)
  VMM MEM    the VMM process's resident memory (/proc/PID/status VmRSS)
  GUEST MEM  memory used / total as the guest sees it (its /proc/meminfo,
             asked of its agent; "-" while paused or with an older agent)
  NET I/O    bytes the guest received / sent (its tap's counters)
  BLOCK I/O  bytes the guest read / wrote on its drives (QEMU's block
             statistics; else the VMM process's I/O counters)
  PIDS       the VMM process's tasks (threads)`,
		Example: `  banger stats
  banger stats --no-stream web
  banger stats --no-stream --format json
  banger stats --no-stream --format '{{.Name}} {{.CPUPercent}} {{.VMMRSSBytes}}'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, c, err := formatAndClient(app, *format)
			if err != nil {
				return err
			}
			sample := func(ctx context.Context) ([]api.VMStats, error) {
				return api.Do(ctx, c, api.SampleVMs, api.VMStatsRequest{VMs: args})
			}
			if noStream {
				list, err := sample(cmd.Context())
				if err != nil {
					return err
				}
				return printList(app.Stdout, f, list, statsRows)
			}
			redraw := f.kind == "table" && isTerminalWriter(app.Stdout)
			return streamStats(cmd.Context(), app.Stdout, f, redraw, statsInterval, sample)
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "print once instead of refreshing")
	format = formatFlag(cmd, "table")
	return cmd
}

// streamStats prints a sample every interval (the daemon's sampling
// window included) until ctx ends, which is success; redraw clears the
// terminal before each, as docker stats does on a terminal.
func streamStats(ctx context.Context, w io.Writer, f outputFormat, redraw bool, interval time.Duration, sample func(context.Context) ([]api.VMStats, error)) error {
	for {
		start := time.Now()
		list, err := sample(ctx)
		if ctx.Err() != nil {
			return nil // interrupted
		}
		if err != nil {
			return err
		}
		if redraw {
			_, _ = io.WriteString(w, "\033[2J\033[H")
		}
		if err := printList(w, f, list, statsRows); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval - time.Since(start)):
		}
	}
}

// isTerminalWriter says w is a terminal (streaming stats redraws it;
// image save writes no archive to one).
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

func statsRows(list []api.VMStats) [][]string {
	rows := [][]string{{"ID", "NAME", "CPU %", "VMM MEM", "GUEST MEM USAGE / TOTAL", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"}}
	for _, s := range list {
		id := shortID(s.ID)
		if s.Error != "" {
			rows = append(rows, []string{id, s.Name, "-", "-", s.Error, "-", "-", "-", "-"})
			continue
		}
		memPct := "-"
		if s.GuestMemoryUsedBytes != nil && s.GuestMemoryTotalBytes != nil && *s.GuestMemoryTotalBytes > 0 {
			memPct = fmt.Sprintf("%.2f%%", float64(*s.GuestMemoryUsedBytes)/float64(*s.GuestMemoryTotalBytes)*100)
		}
		rows = append(rows, []string{
			id, s.Name, fmt.Sprintf("%.2f%%", s.CPUPercent), units.FormatSize(int64(s.VMMRSSBytes)), //nolint:gosec // memory sizes fit
			pair(s.GuestMemoryUsedBytes, s.GuestMemoryTotalBytes), memPct,
			pair(s.NetRxBytes, s.NetTxBytes), pair(s.BlockReadBytes, s.BlockWriteBytes), fmt.Sprint(s.PIDs),
		})
	}
	return rows
}

// pair prints "A / B" in sizes, "-" for an unknown one.
func pair(a, b *uint64) string {
	return size(a) + " / " + size(b)
}

func size(n *uint64) string {
	if n == nil {
		return "-"
	}
	return units.FormatSize(int64(*n)) //nolint:gosec // byte counts fit
}
