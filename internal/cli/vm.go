package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/pkg/api"
)

func newCreateCmd(app *App) *cobra.Command {
	var f vmFlags
	cmd := &cobra.Command{
		Use:   "create [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Create a VM without starting it",
		Long: `Create a VM record from an image. Nothing runs and nothing is allocated on
the host until ` + "`banger start`" + `. Once started it lives as long as its
main process, as with ` + "`banger run -d`" + ` (see ` + "`banger run --help`" + `).`,
		Example: `  banger create --name dev debian:bookworm
  banger start dev && banger ssh dev
  banger create --cold --name clean busybox sleep infinity
  mkfifo /tmp/job.out && cat /tmp/job.out &
  banger create --name job --stdout-file /tmp/job.out --stderr-file /tmp/job.err busybox sh -c 'echo hi; echo oops >&2'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.specOf(app, args)
			if err != nil {
				return err
			}
			spec.Detach = true
			vm, err := app.createVM(cmd.Context(), f.name, spec, "")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(app.Stdout, vm.Name)
			return err
		},
	}
	commandAfter(cmd)
	f.add(cmd)
	return cmd
}

// createVM creates a VM, pulling its image first when the daemon does not
// have it.
func (a *App) createVM(ctx context.Context, name string, spec api.VMSpec, from string) (api.VM, error) {
	c, err := a.Client()
	if err != nil {
		return api.VM{}, err
	}
	if from == "" {
		if err := a.ensureImage(ctx, spec.Image); err != nil {
			return api.VM{}, err
		}
	}
	return api.Do(ctx, c, api.CreateVM, api.CreateVMRequest{Name: name, Spec: spec, From: from})
}

// startVM starts a VM, showing the daemon's messages on stderr.
func (a *App) startVM(ctx context.Context, ref string) (api.StartResult, error) {
	c, err := a.Client()
	if err != nil {
		return api.StartResult{}, err
	}
	return api.Stream(ctx, c, api.StartVM, api.None{}, newProgress(a.Stderr).watch(), ref)
}

func newStartCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "start VM...",
		Short:   "Start VMs and wait until their guest agent is ready",
		Example: "  banger start dev",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, ref := range args {
				res, err := app.startVM(cmd.Context(), ref)
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintln(app.Stdout, res.VM.Name); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

func newStopCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stop [-t SECONDS] [-s SIGNAL] VM...",
		Short: "Stop VMs: their main process gets its stop signal, then SIGKILL after a timeout",
		Long: `Stop VMs as docker stops containers: the main process gets the image's
stop signal (STOPSIGNAL, default SIGTERM) and, when it has not exited after
the timeout, SIGKILL. The guest then stops its other processes, syncs its
disk and powers off, so nothing written in the VM is lost. Only a guest
whose agent does not answer within vm.agent_timeout more has its VMM
killed; inspect then says "killed: agent unresponsive". A paused VM is
unpaused first, so its main process gets the signal. -s sends another
signal first instead of the image's (docker stop -s).`,
		Example: `  banger stop dev
  banger stop -t 30 dev other
  banger stop -t 0 dev      # SIGKILL at once; the disk is still synced
  banger stop -s INT -t 5 web   # SIGINT, then SIGKILL after 5 seconds`,
		Args: cobra.MinimumNArgs(1),
	}
	query := stopFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		q := query()
		return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
			_, err := api.Do(ctx, c, api.StopVM, q, ref)
			return err
		})
	}
	return cmd
}

func newKillCmd(app *App) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [-s SIGNAL] VM...",
		Short: "Send a signal to VMs' main processes (SIGKILL by default)",
		Long: `Send a signal to each VM's main process, as docker kill does. The VM ends
when its main process does (the guest still syncs its disk and powers
off); a signal the process handles (HUP, USR1) leaves it running. A
paused VM is unpaused first.`,
		Example: `  banger kill dev
  banger kill -s HUP web`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
				_, err := api.Do(ctx, c, api.KillVM, api.KillVMQuery{Signal: signal}, ref)
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "signal to send: a name (KILL, TERM, HUP, INT, USR1) or number")
	return cmd
}

func newRmCmd(app *App) *cobra.Command {
	var force, missingOK bool
	cmd := &cobra.Command{
		Use:   "rm [-f] [--missing-ok] VM...",
		Short: "Remove VMs and everything they hold on the host",
		Long: `Remove VMs: their disk, address lease, tap, firewall rules and files. A
running (or paused) VM is refused unless -f kills its VMM first. A VM
that does not exist is an error (a typo must not pass for a removal)
unless --missing-ok says absent is fine, as a script that cleans up
after itself, or retries, wants.`,
		Example: `  banger rm dev
  banger rm -f $(banger ps -aq)
  banger rm -f --missing-ok ci-job-42   # gone either way, exit 0`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return app.eachVM(cmd.Context(), args, func(ctx context.Context, c *api.Client, ref string) error {
				_, err := api.Do(ctx, c, api.RemoveVM, api.RemoveVMQuery{Force: force, MissingOK: missingOK}, ref)
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running VM before removing it")
	cmd.Flags().BoolVar(&missingOK, "missing-ok", false, "succeed when a VM does not exist (already removed)")
	return cmd
}

// eachVM calls do for each VM and prints each VM's name, continuing past
// failures and reporting all of them. One VM's failure is returned as it
// is, so its exit status is the error's (130 for an interrupt).
func (a *App) eachVM(ctx context.Context, refs []string, do func(context.Context, *api.Client, string) error) error {
	c, err := a.Client()
	if err != nil {
		return err
	}
	var failed []string
	for _, ref := range refs {
		if err := do(ctx, c, ref); err != nil {
			if len(refs) == 1 {
				return err
			}
			_, _ = fmt.Fprintf(a.Stderr, "banger: %v\n", err)
			failed = append(failed, ref)
			continue
		}
		_, _ = fmt.Fprintln(a.Stdout, ref)
	}
	if len(failed) > 0 {
		return &ExitError{Code: ExitBanger}
	}
	return nil
}

func newPsCmd(app *App) *cobra.Command {
	var all bool
	l := listing[api.VM]{keys: vmFilterKeys, match: vmFilter, id: func(vm api.VM) string { return vm.ID },
		rows: func(vms []api.VM) [][]string { return vmRows(vms, time.Now()) }}
	cmd := &cobra.Command{
		Use:   "ps [-a] [-q] [--filter KEY=VALUE] [--format FORMAT]",
		Short: "List VMs (running ones; -a for all)",
		Long: `List VMs: the running ones, or every VM with -a (or a state filter).

--filter keeps the VMs that match, with docker's rules: values of one key
OR, different keys AND, and every label given must be set (the daemon
filters by labels itself). Keys: id (a prefix), name (a regular
expression), state (created, running, paused, exited, error), label (KEY
or KEY=VALUE) and image.`,
		Example: `  banger ps
  banger ps --filter state=exited -q
  banger ps -a --filter label=team=web --filter label=tier   # both labels
  banger ps -a --format '{{.Name}} {{.State}} {{.Runtime.IP}}'
  banger ps --format 'table {{.Name}}\t{{.Spec.Image}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(f filters) ([]api.VM, error) {
				return fetch(cmd, app, api.ListVMs, api.ListVMsQuery{All: all || len(f["state"]) > 0, Labels: f["label"]})
			})
		},
	}
	l.addFlags(cmd, "VM ids")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show every VM, not only running ones")
	return cmd
}

func vmRows(vms []api.VM, now time.Time) [][]string {
	rows := [][]string{{"ID", "NAME", "IMAGE", "STATE", "IP", "PORTS", "CREATED"}}
	for _, vm := range vms {
		state := string(vm.State)
		if vm.ExitCode != nil && vm.State != api.VMRunning && vm.State != api.VMPaused {
			state += fmt.Sprintf(" (%d)", *vm.ExitCode)
		}
		var ports []string
		shown := vm.Spec.Ports // a port to be picked shows as 80/tcp
		if len(vm.Runtime.Ports) > 0 {
			shown = vm.Runtime.Ports
		}
		for _, p := range shown {
			ports = append(ports, hostnet.FormatPort(hostnet.Port(p)))
		}
		rows = append(rows, []string{vm.ID, vm.Name, vm.Spec.Image, state, vm.Runtime.IP, strings.Join(ports, ","), ago(vm.Created, now)})
	}
	return rows
}

// ensureImage pulls ref with progress when the daemon does not have it, as
// `docker run` does.
func (a *App) ensureImage(ctx context.Context, ref string) error {
	c, err := a.Banger()
	if err != nil {
		return err
	}
	pv := newProgress(a.Stderr)
	defer pv.Finish()
	return c.EnsureImage(ctx, ref, pv.watch())
}

func newWaitCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "wait VM...",
		Short: "Wait until VMs stop, then print their main process's exit codes",
		Example: `  banger run -d --name job busybox -- sh -c 'sleep 5; exit 2'
  banger wait job`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			for _, ref := range args {
				vm, err := api.Do(cmd.Context(), c, api.WaitVM, api.None{}, ref)
				if err != nil {
					return err
				}
				code := ""
				if vm.ExitCode != nil {
					code = strconv.Itoa(*vm.ExitCode)
				}
				if _, err := fmt.Fprintln(app.Stdout, strings.TrimSpace(code+" "+stateNote(vm))); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// stateNote says why a VM without an exit code stopped.
func stateNote(vm api.VM) string {
	if vm.State == api.VMError {
		return "(error: " + vm.Error + ")"
	}
	return ""
}

// timeOrEmpty formats t, or "" for the zero time.
func timeOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.RFC3339)
}
