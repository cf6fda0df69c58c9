package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newExecCmd(app *App) *cobra.Command {
	var (
		stdin, tty bool
		env        []string
		envFiles   []string
		workdir    string
		user       string
		timings    bool
	)
	cmd := &cobra.Command{
		Use:   "exec [flags] VM COMMAND [ARG...]",
		Short: "Run a command in a running VM",
		Long: `Run a command in a running VM, like docker exec: argv runs as is (no
shell), with the main process's environment, working directory and user
unless overridden.

banger's flags go before VM; everything after VM is the command's, its
dashes included (a -- after VM is allowed and dropped). Exit status: the
command's (128+N when signal N killed it); 125 when banger fails (the VM
is not running, the daemon is unreachable); 126 when the command cannot be
executed; 127 when it is not found.`,
		Example: `  banger exec dev ls -la /
  banger exec -it dev bash
  banger exec -u 1000 -w /tmp -e DEBUG=1 --env-file dev.env dev env`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			vm, command := splitCommand(args)
			if err := needCommand(cmd, command); err != nil {
				return err
			}
			envs, err := envOf(envFiles, env)
			if err != nil {
				return err
			}
			var times *stepTimes
			if timings {
				times = newStepTimes(app.started)
				times.mark("cli")
				defer times.print(app.Stderr)
			}
			client, err := app.agentTimed(cmd.Context(), vm, times)
			if err != nil {
				return err
			}
			defer func() { _ = client.Close() }()
			req := agentclient.ExecRequest{Argv: command, Env: envs, WorkingDir: workdir, User: user, Stdout: app.Stdout, Stderr: app.Stderr}
			if stdin {
				req.Stdin = app.Stdin
			}
			if times != nil {
				req.Trace = times.mark
			}
			err = app.execute(cmd.Context(), client, req, tty)
			times.mark("command")
			times.daemon(client)
			return err
		},
	}
	commandAfter(cmd)
	fl := cmd.Flags()
	fl.BoolVarP(&stdin, "interactive", "i", false, "connect stdin to the command")
	fl.BoolVarP(&tty, "tty", "t", false, "run the command on a terminal")
	fl.StringArrayVarP(&env, "env", "e", nil, "set an environment variable: KEY=VALUE, or KEY to pass the local value")
	fl.StringArrayVar(&envFiles, "env-file", nil, "read environment variables from a file of KEY=VALUE lines (# comments); -e overrides it")
	fl.StringVarP(&workdir, "workdir", "w", "", "working directory in the guest")
	fl.StringVarP(&user, "user", "u", "", "user (name or uid[:gid]) in the guest")
	fl.BoolVar(&timings, "timings", false, "print how long each step took (the CLI's and the daemon's) as JSON on stderr")
	return cmd
}

// execute runs req and turns its exit status into the CLI's; without a TTY
// the signals this process receives are forwarded to the command.
func (a *App) execute(ctx context.Context, client *agentclient.Client, req agentclient.ExecRequest, tty bool) error {
	if tty {
		tc, restore, err := a.terminal()
		if err != nil {
			return err
		}
		defer restore()
		req.TTY = &tc
	} else {
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		fwd := make(chan ssh.Signal, 4)
		go func() {
			for s := range sigs {
				fwd <- signalName(s)
			}
		}()
		req.Signals = fwd
		// Signals are forwarded, not fatal: the command decides.
		ctx = context.WithoutCancel(ctx)
	}
	code, err := client.Exec(ctx, req)
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

func newSSHCmd(app *App) *cobra.Command {
	return commandAfter(&cobra.Command{
		Use:   "ssh VM [COMMAND...]",
		Short: "Open a shell in a running VM, or run a shell command line",
		Long: `Open a login shell in a running VM (on a terminal when stdin is one), or
run COMMAND through the guest's shell, like ssh. No sshd is needed in the
image: the guest agent serves it.`,
		Example: `  banger ssh dev
  banger ssh dev -- 'ls -l /etc | head'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			vm, command := splitCommand(args)
			client, err := app.agent(cmd.Context(), vm)
			if err != nil {
				return err
			}
			defer func() { _ = client.Close() }()
			if len(command) > 0 {
				req := agentclient.ExecRequest{Argv: []string{"/bin/sh", "-c", strings.Join(command, " ")}, Stdin: app.Stdin, Stdout: app.Stdout, Stderr: app.Stderr}
				return app.execute(cmd.Context(), client, req, false)
			}
			return app.shell(cmd.Context(), client)
		},
	})
}

// shell runs the login shell through the SSH "shell" request.
func (a *App) shell(ctx context.Context, client *agentclient.Client) error {
	s, err := client.SSH().NewSession()
	if err != nil {
		return fmt.Errorf("open a session: %w", err)
	}
	defer func() { _ = s.Close() }()
	s.Stdin, s.Stdout, s.Stderr = a.Stdin, a.Stdout, a.Stderr
	tc, restore, err := a.terminal()
	if err != nil {
		return err
	}
	defer restore()
	if f, ok := a.Stdin.(*os.File); ok && isTerminal(f) {
		if err := s.RequestPty(tc.Term, tc.Rows, tc.Cols, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
			return fmt.Errorf("request a terminal: %w", err)
		}
		go func() {
			for ws := range tc.Resize {
				_ = s.WindowChange(ws.Rows, ws.Cols)
			}
		}()
	}
	if err := s.Shell(); err != nil {
		return fmt.Errorf("start the shell: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	err = s.Wait()
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		return &ExitError{Code: exit.ExitStatus()}
	default:
		return err
	}
}

func newProxyCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:    "proxy VM",
		Short:  "Carry an SSH connection to a VM over stdin/stdout (OpenSSH's ProxyCommand)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			conn, err := api.Dial(cmd.Context(), c, api.VMSSH, api.None{}, strings.TrimSuffix(args[0], ".banger"))
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(conn, app.Stdin)
				if cw, ok := conn.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
				}
			}()
			go func() {
				_, _ = io.Copy(app.Stdout, conn)
				close(done)
			}()
			<-done
			return nil
		},
	}
}

func newCpCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy files and directories between the host and a VM",
		Long: `Copy a file or a directory tree (recursively, keeping modes, times and
symlinks) between the host and a running VM. Exactly one of SRC and DST
names the VM as VM:/path.`,
		Example: `  banger cp ./app.tar dev:/tmp/
  banger cp dev:/var/log ./logs`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			srcVM, srcPath := splitVMPath(args[0])
			dstVM, dstPath := splitVMPath(args[1])
			if (srcVM == "") == (dstVM == "") {
				return fmt.Errorf("%w: exactly one of SRC and DST must be VM:/path", errdefs.ErrInvalid)
			}
			vm := srcVM + dstVM
			client, err := app.agent(cmd.Context(), vm)
			if err != nil {
				return err
			}
			defer func() { _ = client.Close() }()
			if srcVM != "" {
				return client.CopyOut(cmd.Context(), srcPath, dstPath)
			}
			return client.CopyIn(cmd.Context(), srcPath, dstPath)
		},
	}
}

// splitVMPath splits "vm:/path" into its parts; a plain local path (with
// no colon before its first slash) has no VM.
func splitVMPath(s string) (vm, path string) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || strings.Contains(s[:i], "/") {
		return "", s
	}
	return s[:i], s[i+1:]
}
