package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// commandAfter makes cmd take its own flags only before its first
// positional argument (IMAGE or VM), as docker does: everything after it
// is the guest command's, dashes included, so `banger exec web ls -la /`
// passes -la to ls. `--` after IMAGE or VM still separates the command;
// splitCommand drops it.
func commandAfter(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// splitCommand splits the arguments of a commandAfter command into its
// target (IMAGE or VM) and the guest command, without a leading "--".
// (pflag keeps a "--" that follows the first positional argument when
// interspersed flags are off.)
func splitCommand(args []string) (string, []string) {
	rest := args[1:]
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	return args[0], rest
}

// needCommand refuses a commandAfter command line whose guest command is
// empty (`banger exec web --`).
func needCommand(cmd *cobra.Command, command []string) error {
	if len(command) == 0 {
		return usageError(cmd, errors.New("missing COMMAND"))
	}
	return nil
}
