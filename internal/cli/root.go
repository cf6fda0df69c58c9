// Package cli is banger's command line: cobra commands that parse flags,
// call the daemon's API and print. Commands stay thin — the work happens in
// the daemon — so every command here is a few lines of flags and output.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
)

// App carries what every command shares: the streams and the daemon client.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	host   string
	client *client.Client
	// started is when Main began (`exec --timings` counts from it).
	started time.Time
}

// Main runs the CLI on the process's standard streams with args (without
// the program name) and returns the process exit code.
func Main(args []string) int {
	app := &App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, started: time.Now()}
	return app.Run(args)
}

// Run executes one command line and returns its exit code (see exitCode):
// 0, the guest command's code for run/exec/ssh, 128+N when signal N
// interrupted it, or ExitBanger with the error printed on Stderr.
func (a *App) Run(args []string) int {
	if a.started.IsZero() {
		a.started = time.Now()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			cancel(interrupted{s})
		case <-ctx.Done():
		}
	}()
	root := NewRoot(a)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	code := exitCode(ctx, err)
	var exit *ExitError
	if err != nil && !errors.As(err, &exit) {
		_, _ = fmt.Fprintf(a.Stderr, "banger: %v\n", err)
	}
	return code
}

// NewRoot builds the command tree.
func NewRoot(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "banger",
		Short: "Run microVMs from OCI images",
		Long: `banger runs microVMs from OCI images with the ergonomics of docker run.

The CLI talks to the banger daemon (banger daemon, as root) over a unix
socket: --host or $BANGER_HOST selects it (default ` + api.DefaultHost + `).

Exit status, as docker's: the guest command's own status for run, exec and
ssh (128+N when signal N ended it); 125 when banger itself failed (the
daemon, a flag, a missing image or kernel, a boot); 126 when the command
exists but cannot be executed; 127 when it was not found.`,
		Example: `  banger image pull debian:bookworm
  banger run debian:bookworm -- uname -a
  banger ssh dev`,
		Version:       version.String(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(app.Stdin)
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	root.PersistentFlags().StringVarP(&app.host, "host", "H", "", "daemon socket as unix:///path (default $"+api.EnvHost+" or "+api.DefaultHost+")")
	for _, add := range commands {
		root.AddCommand(add(app))
	}
	root.SetFlagErrorFunc(usageError)
	root.InitDefaultCompletionCmd() // now, so it is in the tree the steps below walk
	failUnknownSubcommands(root)
	addCompletions(app, root)
	tidyFlagHelp(root)
	return root
}

// commands lists the constructors of the top-level commands; each command
// file adds itself here, in the order help shows them.
var commands = []func(*App) *cobra.Command{
	newRunCmd,
	newCreateCmd,
	newStartCmd,
	newStopCmd,
	newKillCmd,
	newRestartCmd,
	newPauseCmd,
	newUnpauseCmd,
	newUpdateCmd,
	newRmCmd,
	newRenameCmd,
	newPsCmd,
	newStatsCmd,
	newTopCmd,
	newPortCmd,
	newInspectCmd,
	newWaitCmd,
	newLogsCmd,
	newEventsCmd,
	newAttachCmd,
	newExecCmd,
	newSSHCmd,
	newSSHConfigCmd,
	newCpCmd,
	newProxyCmd,
	newDoctorCmd,
	newGCCmd,
	newNetworkCmd,
	newDaemonCmd,
	newSetupCmd,
	newInfoCmd,
	newVersionCmd,
	newConfigCmd,
	newImageCmd,
	newKernelCmd,
	newPullCmd,
	newImagesCmd,
	newRmiCmd,
	newVolumeCmd,
	newSnapshotCmd,
	newCheckpointCmd,
	newCommitCmd,
	newForkCmd,
}

// Client returns the low-level API client of the selected daemon (see
// Banger); its first call runs the version handshake.
func (a *App) Client() (*api.Client, error) {
	c, err := a.Banger()
	if err != nil {
		return nil, err
	}
	return c.API(), nil
}

// Banger returns the client of the selected daemon.
func (a *App) Banger() (*client.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	c, err := client.New(api.ResolveHost(a.host))
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}
