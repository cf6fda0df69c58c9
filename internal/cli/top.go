package cli

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/client"
)

func newTopCmd(app *App) *cobra.Command {
	var format *string
	cmd := &cobra.Command{
		Use:   "top [--format json|table|TEMPLATE] VM [ps OPTIONS]",
		Short: "List the processes running in a VM",
		Long: `List the guest's processes. Without ps options the guest agent reads the
guest's /proc, so every image is listed, including those without a ps
binary (debian:bookworm has none; distroless images have no shell). With
ps options, the guest's own ps runs with them and its output is printed
as it is (busybox's ps takes -o; procps's takes docker top's -ef, aux).
A VM whose agent predates the process request falls back to the guest's
ps.`,
		Example: `  banger top web
  banger top web -o pid,comm,rss
  banger top --format json web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFormat(*format)
			if err != nil {
				return err
			}
			ref, psArgs := splitCommand(args)
			s, err := app.session(cmd.Context(), ref, nil)
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }()
			if len(psArgs) == 0 {
				procs, err := s.Processes(cmd.Context())
				if err == nil {
					return printList(app.Stdout, f, procs, topRows)
				}
				if !errors.Is(err, client.ErrOldAgent) {
					return err
				}
				_, _ = fmt.Fprintln(app.Stderr, "banger: the guest agent is older than this banger; running the guest's ps")
			}
			err = app.execute(cmd.Context(), s, client.ExecConfig{
				Cmd: append([]string{"ps"}, psArgs...), User: "0", Stdout: app.Stdout, Stderr: app.Stderr,
			}, false)
			var ee *ExitError
			if errors.As(err, &ee) && ee.Code == ExitNotFound {
				return fmt.Errorf("the image of vm %s has no ps; run `banger top %s` without ps options to read the guest's /proc: %w", ref, ref, err)
			}
			return err
		},
	}
	commandAfter(cmd)
	format = formatFlag(cmd, "table")
	return cmd
}

func topRows(procs []client.GuestProcess) [][]string {
	rows := [][]string{{"PID", "PPID", "USER", "STAT", "RSS", "TIME", "COMMAND"}}
	for _, p := range procs {
		secs := p.CPUTicks / procfs.ClockTicks
		rows = append(rows, []string{
			strconv.Itoa(p.PID), strconv.Itoa(p.PPID), p.User, p.State,
			units.FormatSize(int64(p.RSSBytes)), //nolint:gosec // memory sizes fit
			fmt.Sprintf("%d:%02d", secs/60, secs%60), p.Command,
		})
	}
	return rows
}
