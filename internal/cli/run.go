package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/client"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newRunCmd(app *App) *cobra.Command {
	var (
		f                      vmFlags
		rm, detach, stdin, tty bool
		timings                bool
		from                   string
	)
	cmd := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]] | run [-d] [--name NAME] --from CHECKPOINT",
		Short: "Run a command in a new microVM",
		Long: `Create and start a microVM from IMAGE and run COMMAND (or the image's
entrypoint and cmd) as its main process, like docker run: its output
streams here and banger exits with its exit code. An image that is not
present is pulled first.

banger's flags go before IMAGE; everything after IMAGE is the command's,
its dashes included (a -- after IMAGE is allowed and dropped). Exit status:
the command's; 125 when banger fails (bad flag, missing image or kernel,
boot); 126 when the command cannot be executed; 127 when it is not found.

A VM lives as long as its main process, as a container does, with or
without -d: when the process ends, the guest stops every other process,
syncs its disk and powers off, and ` + "`banger wait`" + ` prints the exit
code. To keep a VM up:
  - give it a long-lived command (a server, or sleep infinity), or
  - boot the image's own init with --init, or
  - run it with -d and no command from an image that sets no entrypoint
    or cmd: it has no main process and stays up until stopped.
An image whose cmd is a shell (a pulled debian:bookworm runs bash) ends at
once with -d and no -it, as it does under docker.

--restart makes the daemon start the VM again when its main process ends
on its own, as docker's restart policies do: on-failure[:MAX] after a
non-zero exit (at most MAX times), always after any exit, unless-stopped
as always but not at the daemon's start after a manual stop. The restart
waits 100ms, doubling each time (reset after a 10s run); meanwhile the VM
is "restarting". banger stop, kill and rm are never undone by the policy.

The VM's disk is vm.disk big (8GiB by default, sparse: only what the guest
writes uses space); --disk sets another size. /tmp is on that disk; use
--tmpfs for a memory-backed directory.

The first run of a machine shape (image, kernel, CPUs, memory, disk size,
VMM) boots cold and saves the booted guest as a boot snapshot before its
command starts; later runs of that shape restore it and then get their
own identity (clock, entropy, MAC, address, hostname, SSH host key), in a
fraction of a boot. --cold boots cold and saves nothing; VMs with --init or
a shared host directory (-v /host:/guest) always boot cold. --timings says
which ("boot": "cold" or "restored"; "restore" is the restore's time).
banger snapshot ls|rm|prune manages the snapshots.

--from CHECKPOINT starts a VM from a checkpoint (` + "`banger checkpoint`" + `) instead
of an image: the checkpointed VM's processes, files and memory as they
were, with an identity of its own (its name as hostname, MAC, address, SSH
host key, entropy, clock). It takes no IMAGE, COMMAND nor flag but --name,
-d and --timings: its main process is the checkpointed VM's, still
running, whose output streams here (or not, with -d) and whose exit ends
the VM. ` + "`banger inspect`" + ` says where it
came from ("forked").`,
		Example: `  banger run --rm debian:bookworm uname -a
  banger run --rm -it debian:bookworm bash
  banger run -d --name dev debian:bookworm sleep infinity
  banger run -d --name web -p 8080:80 -l team=web --env-file web.env nginx-image
  banger run -d --name api -p 80 -P api-image      # host ports picked; banger port api
  banger run -d --name job busybox sh -c 'sleep 5; exit 3' && banger wait job
  banger run --rm --cpus 1.5 -m 1G busybox nproc
  banger run --rm --tmpfs /scratch:size=64m --disk 20G debian:bookworm df -h
  banger run --rm -v "$PWD":/src -w /src golang-image go build ./...
  banger run -d -v pgdata:/var/lib/postgresql/data postgres-image
  banger run -d --restart on-failure:3 --name job busybox sh -c 'exit 1'
  banger run -d --restart always --name web nginx-image
  banger run --timings --rm busybox true
  banger run --cold --timings --rm busybox true
  banger run -d --from warm --name dev2
  banger run -d --name pod --network netns:/var/run/netns/pod1 busybox httpd -f -p 80`,
		Args: func(cmd *cobra.Command, args []string) error {
			if from != "" {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.MinimumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if from != "" {
				if err := onlyFromFlags(cmd); err != nil {
					return err
				}
				return app.run(cmd.Context(), f.name, api.VMSpec{Detach: detach}, timings, from)
			}
			spec, err := f.specOf(app, args)
			if err != nil {
				return err
			}
			spec.Detach, spec.AutoRemove, spec.Interactive, spec.TTY = detach, rm, stdin, tty
			if rm && spec.Restart.Name != "" {
				return fmt.Errorf("%w: --restart and --rm conflict: a VM removed when it exits cannot be restarted", errdefs.ErrInvalid)
			}
			return app.run(cmd.Context(), f.name, spec, timings, "")
		},
	}
	commandAfter(cmd)
	f.add(cmd)
	fl := cmd.Flags()
	fl.BoolVar(&rm, "rm", false, "remove the VM (disk, lease, everything) when it stops")
	fl.BoolVarP(&detach, "detach", "d", false, "start the VM in the background and print its id (it still ends with its command)")
	fl.BoolVarP(&stdin, "interactive", "i", false, "keep the command's stdin open and connected to this terminal's")
	fl.BoolVarP(&tty, "tty", "t", false, "run the command on a terminal")
	fl.BoolVar(&timings, "timings", false, "print the duration of each phase as JSON on stderr")
	fl.StringVar(&from, "from", "", "start the VM from a checkpoint (banger checkpoint) instead of an image")
	return cmd
}

// fromFlags are run's flags that apply with --from; the others describe
// a new VM of an image, and a checkpoint's VM is the source's as it was.
var fromFlags = map[string]bool{"from": true, "name": true, "detach": true, "timings": true}

// onlyFromFlags refuses, naming them, the flags given to run --from that
// would otherwise be ignored (-p, --cpus, -e, --rm, -it, …).
func onlyFromFlags(cmd *cobra.Command) error {
	var given []string
	cmd.LocalFlags().VisitAll(func(fl *pflag.Flag) {
		if fl.Changed && !fromFlags[fl.Name] {
			given = append(given, "--"+fl.Name)
		}
	})
	if len(given) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s with --from: the checkpointed VM starts as it was (its image, resources, network, environment and main process, still running); only --name, -d and --timings apply",
		errdefs.ErrInvalid, strings.Join(given, ", "))
}

// timingsJSON is --timings' line: each phase's milliseconds, and how the
// VM booted ("boot": "cold" or "restored") once it did.
func timingsJSON(times map[string]float64, boot string) string {
	out := make(map[string]any, len(times)+1)
	for k, v := range times {
		out[k] = v
	}
	if boot != "" {
		out["boot"] = boot
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func (a *App) run(ctx context.Context, name string, spec api.VMSpec, showTimings bool, from string) error {
	t0 := time.Now()
	var res client.RunResult
	defer func() {
		if showTimings {
			times := map[string]float64{"total": ms(time.Since(t0))}
			for k, v := range res.Timings {
				times[k] = v
			}
			_, _ = fmt.Fprintln(a.Stderr, timingsJSON(times, res.VM.Boot.Mode))
		}
	}()
	c, err := a.Banger()
	if err != nil {
		return err
	}
	cfg := client.RunConfig{
		Name: name, Spec: spec, From: from,
		Stdin: a.Stdin, Stdout: a.Stdout, Stderr: a.Stderr,
		Pull:  newProgress(a.Stderr).watch(),
		Start: newProgress(a.Stderr).watch(),
	}
	// The terminal goes raw once the VM started (Terminal) and back as
	// soon as the command is over or interrupted.
	restore := func() {}
	defer func() { restore() }()
	cfg.Terminal = func() (*client.TTY, error) {
		tc, r, err := a.terminal()
		if err != nil {
			return nil, err
		}
		restore = sync.OnceFunc(r)
		return &tc, nil
	}
	cfg.Interrupted = func(vm api.VM) {
		restore()
		_, _ = fmt.Fprintf(a.Stderr, "banger: interrupted; stopping vm %s\n", vm.Name)
	}
	if spec.TTY && spec.Interactive && a.stdinIsTerminal() {
		cfg.DetachKeys, _ = client.ParseDetachKeys(client.DefaultDetachKeys)
	}
	res, err = c.Run(ctx, cfg)
	if ctx.Err() != nil && res.VM.ID != "" {
		code, ok := interruptCode(ctx)
		if !ok {
			code = exitSignal + int(syscall.SIGINT)
		}
		return &ExitError{Code: code}
	}
	switch {
	case err != nil:
		return err
	case spec.Detach:
		_, err := fmt.Fprintln(a.Stdout, res.VM.ID)
		return err
	case res.Detached:
		_, _ = fmt.Fprintln(a.Stderr, "\r\nbanger: detached; the VM runs on")
		return nil
	}
	return exitStatus(res.ExitCode, nil)
}

// stdinIsTerminal says the CLI's stdin is a terminal.
func (a *App) stdinIsTerminal() bool {
	f, ok := a.Stdin.(*os.File)
	return ok && isTerminal(f)
}

// terminal puts stdin in raw mode (when it is a terminal) and returns its
// size and resize events, and how to restore it.
func (a *App) terminal() (client.TTY, func(), error) {
	tc := client.TTY{Term: os.Getenv("TERM"), Rows: 24, Cols: 80}
	if !a.stdinIsTerminal() {
		return tc, func() {}, nil
	}
	fd := int(a.Stdin.(*os.File).Fd())
	if w, h, err := term.GetSize(fd); err == nil {
		tc.Cols, tc.Rows = w, h
	}
	state, err := term.MakeRaw(fd)
	if err != nil {
		return tc, nil, fmt.Errorf("terminal raw mode: %w", err)
	}
	resize := make(chan client.WindowSize, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	go func() {
		for range winch {
			if w, h, err := term.GetSize(fd); err == nil {
				select {
				case resize <- client.WindowSize{Rows: h, Cols: w}:
				default:
				}
			}
		}
	}()
	tc.Resize = resize
	return tc, func() {
		signal.Stop(winch)
		close(winch)
		_ = term.Restore(fd, state)
	}, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
