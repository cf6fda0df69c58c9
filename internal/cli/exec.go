package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
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
			s, err := app.session(cmd.Context(), vm, times)
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }()
			req := client.ExecConfig{Cmd: command, Env: envs, WorkingDir: workdir, User: user, Stdout: app.Stdout, Stderr: app.Stderr}
			if stdin {
				req.Stdin = app.Stdin
			}
			if times != nil {
				req.Trace = times.mark
			}
			err = app.execute(cmd.Context(), s, req, tty)
			times.mark("command")
			times.daemon(s)
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

// session opens a session on a running VM's agent, marking its steps in
// times (when not nil).
func (a *App) session(ctx context.Context, ref string, times *stepTimes) (*client.Session, error) {
	c, err := a.Banger()
	if err != nil {
		return nil, err
	}
	var o client.SessionOptions
	if times != nil {
		o.Trace = times.mark
	}
	return c.OpenSession(ctx, ref, o)
}

// execute runs req and turns its exit status into the CLI's; without a TTY
// the signals this process receives are forwarded to the command.
func (a *App) execute(ctx context.Context, s *client.Session, req client.ExecConfig, tty bool) error {
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
		req.Signals = sigs
		// Signals are forwarded, not fatal: the command decides.
		ctx = context.WithoutCancel(ctx)
	}
	return exitStatus(s.Exec(ctx, req))
}

// exitStatus is a guest command's exit code as the CLI's error.
func exitStatus(code int, err error) error {
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
			s, err := app.session(cmd.Context(), vm, nil)
			if err != nil {
				return err
			}
			defer func() { _ = s.Close() }()
			if len(command) > 0 {
				req := client.ExecConfig{Cmd: []string{"/bin/sh", "-c", strings.Join(command, " ")}, Stdin: app.Stdin, Stdout: app.Stdout, Stderr: app.Stderr}
				return app.execute(cmd.Context(), s, req, false)
			}
			return app.shell(cmd.Context(), s)
		},
	})
}

// shell runs the login shell, on a terminal when stdin is one.
func (a *App) shell(ctx context.Context, s *client.Session) error {
	tc, restore, err := a.terminal()
	if err != nil {
		return err
	}
	defer restore()
	cfg := client.ShellConfig{Stdin: a.Stdin, Stdout: a.Stdout, Stderr: a.Stderr}
	if a.stdinIsTerminal() {
		cfg.TTY = &tc
	}
	return exitStatus(s.Shell(ctx, cfg))
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
			c, err := app.Banger()
			if err != nil {
				return err
			}
			if srcVM != "" {
				return c.CopyOut(cmd.Context(), srcVM, srcPath, dstPath)
			}
			return c.CopyIn(cmd.Context(), dstVM, srcPath, dstPath)
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
