package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit statuses, docker's convention: a script can tell banger's own
// failure from the guest command's, whose status passes through.
const (
	// ExitBanger is any failure of banger itself: the daemon unreachable, a
	// bad flag or argument, an image or kernel missing, a boot that failed.
	ExitBanger = 125
	// ExitCannotInvoke and ExitNotFound come from the guest: its command
	// exists but cannot be executed (EACCES, ENOEXEC), or does not exist
	// (ENOENT). The agent decides them from execve's errno.
	ExitCannotInvoke = 126
	ExitNotFound     = 127
	// exitSignal + N is a command a signal N ended (137 for SIGKILL), and
	// banger interrupted by signal N itself (130 for Ctrl-C).
	exitSignal = 128
)

// ExitError ends the CLI with a specific exit code and no message of its own
// (the guest command's exit code in `banger run`).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// interrupted is the cause of the command context's end when a signal
// arrived.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// exitCode maps what a command returned to the process's exit status: the
// guest command's own (an ExitError), 128+N when a signal N interrupted
// banger, and ExitBanger for every other error.
func exitCode(ctx context.Context, err error) int {
	var exit *ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	case errors.Is(err, context.Canceled):
		if code, ok := interruptCode(ctx); ok {
			return code
		}
	}
	return ExitBanger
}

// interruptCode is 128+N when signal N ended ctx.
func interruptCode(ctx context.Context) (int, bool) {
	var in interrupted
	if errors.As(context.Cause(ctx), &in) {
		if s, ok := in.sig.(syscall.Signal); ok {
			return exitSignal + int(s), true
		}
	}
	return 0, false
}

// usageError is a command line banger cannot run: a bad flag, a missing
// argument, an unknown command. It exits ExitBanger, like any failure of
// banger's, and points at the command's help.
func usageError(cmd *cobra.Command, err error) error {
	return &commandLineError{err: err, path: cmd.CommandPath()}
}

type commandLineError struct {
	err  error
	path string
}

func (e *commandLineError) Error() string {
	return e.err.Error() + "\nSee '" + e.path + " --help'."
}

func (e *commandLineError) Unwrap() error { return e.err }

// failUnknownSubcommands makes every command that only groups others
// (image, kernel, network, …) fail on an unknown subcommand: cobra would
// print the group's help and exit 0, so `banger image foo` would look
// like success to a script.
func failUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		failUnknownSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() || !cmd.HasParent() {
		return
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if cmd.SuggestionsMinimumDistance <= 0 {
			cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only where it suggests itself
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return usageError(cmd, errors.New(msg))
	}
}
