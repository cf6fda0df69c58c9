package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/client"
)

func newAttachCmd(app *App) *cobra.Command {
	var (
		noStdin    bool
		detachKeys string
	)
	cmd := &cobra.Command{
		Use:   "attach [--no-stdin] [--detach-keys KEYS] VM",
		Short: "Attach to a VM's main process: its output so far, then live",
		Long: `Attach this terminal to the VM's main process through the daemon, which
keeps its output: what the current run printed so far comes first (so
banger run -d followed by banger attach misses nothing), then the live
output, stdout here on stdout and stderr on stderr. Input goes to the
process when it was started with -i (banger run -i). banger attach exits
with the process's exit status when it ends.

With a terminal (banger run -t), this one is put in raw mode, and the
detach keys (ctrl-p ctrl-q unless --detach-keys says otherwise) leave the
process running.`,
		Example: `  banger run -d --name job busybox sh -c 'echo start; sleep 5; echo done'
  banger attach job
  banger attach --detach-keys ctrl-x,x web`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := client.ParseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			c, err := app.Banger()
			if err != nil {
				return err
			}
			vm, err := c.GetVM(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			cfg := client.AttachConfig{Logs: true, Stdout: app.Stdout, Stderr: app.Stderr}
			if !noStdin && vm.Spec.Interactive {
				cfg.Stdin = app.Stdin
			}
			if vm.Spec.TTY {
				tc, restore, err := app.terminal()
				if err != nil {
					return err
				}
				defer restore()
				cfg.TTY = &tc
				if app.stdinIsTerminal() {
					cfg.DetachKeys = keys
				}
			}
			res, err := c.Attach(cmd.Context(), vm.ID, cfg)
			switch {
			case err != nil:
				return err
			case res.Detached:
				_, _ = fmt.Fprintln(app.Stderr, "\r\nbanger: detached; the VM runs on")
				return nil
			case !res.Exited:
				return fmt.Errorf("vm %s: the attachment ended without an exit status; see `banger wait %s`", vm.Name, vm.Name)
			}
			return exitStatus(res.ExitCode, nil)
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not send this terminal's input to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", client.DefaultDetachKeys, "the key sequence that detaches (with a terminal): ctrl-<letter> or single characters, comma separated")
	return cmd
}
