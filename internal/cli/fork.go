package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// forkResult is `banger fork --format json`'s answer.
type forkResult struct {
	Checkpoint api.Checkpoint `json:"checkpoint"`
	// Kept says the checkpoint stays (--keep).
	Kept bool     `json:"kept"`
	VMs  []api.VM `json:"vms"`
}

func newForkCmd(app *App) *cobra.Command {
	var (
		name  string
		count int
		keep  bool
	)
	cmd := &cobra.Command{
		Use:   "fork [--name NEW] [-n COUNT] [--keep] [--format FORMAT] VM",
		Short: "Make running copies of a running VM: its processes, files and memory, each with its own identity",
		Long: `Checkpoint the running VM (` + "`banger checkpoint`" + `: it is frozen only while its state
is saved and its disk copied), start COUNT new VMs from the checkpoint
(` + "`banger run -d --from`" + `), then remove the checkpoint unless --keep.

Each fork goes on from the moment of the checkpoint: the same processes
(its main process is the source's, still running: ` + "`banger wait`, `logs`" + ` and
` + "`stop`" + ` work on it), files and memory, with its own hostname (its name), MAC,
address, SSH host key, entropy and clock. What the forks and the source
write afterwards stays their own.

Names: with one fork, NEW (default: a random name); with -n COUNT, NEW-1
to NEW-COUNT, as docker compose names a service's replicas. Progress goes
to stderr; stdout gets the forks' names (or JSON with --format json).`,
		Example: `  banger fork dev --name dev2
  banger fork -n 3 --name worker dev
  banger fork --keep --name try dev && banger run -d --from ` + "\"$(banger checkpoint ls -q | tail -1)\"" + `
  banger fork -n 2 --name w dev --format json | jq -r '.vms[].runtime.ip'`,
		Args: cobra.ExactArgs(1),
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "the fork's name; with -n, the prefix of NAME-1..NAME-COUNT")
	fl.IntVarP(&count, "count", "n", 1, "how many forks to start")
	fl.BoolVar(&keep, "keep", false, "keep the checkpoint (for later runs with --from)")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := parseFormat(*format)
		if err != nil {
			return err
		}
		if count < 1 {
			return fmt.Errorf("%w: -n %d: want at least 1", errdefs.ErrInvalid, count)
		}
		res, err := app.fork(cmd.Context(), args[0], forkNames(name, count), keep)
		if err != nil {
			return err
		}
		return printObject(app.Stdout, f, res, func() error {
			for _, vm := range res.VMs {
				if _, err := fmt.Fprintln(app.Stdout, vm.Name); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return cmd
}

// forkNames are the forks' names: name alone for one fork (empty: the
// daemon picks), else name-1..name-count.
func forkNames(name string, count int) []string {
	if count == 1 {
		return []string{name}
	}
	if name == "" {
		name = "fork"
	}
	out := make([]string, count)
	for i := range out {
		out[i] = name + "-" + strconv.Itoa(i+1)
	}
	return out
}

// fork checkpoints vm, starts a VM from the checkpoint for each name, and
// removes the checkpoint unless keep (also when a fork failed: the ones
// started run on). Progress lines go to stderr.
func (a *App) fork(ctx context.Context, vm string, names []string, keep bool) (forkResult, error) {
	c, err := a.Client()
	if err != nil {
		return forkResult{}, err
	}
	ckName := vm + "-fork-" + strconv.FormatInt(time.Now().UnixMilli(), 36)
	ck, err := api.Do(ctx, c, api.CheckpointVM, api.CheckpointRequest{Name: ckName}, vm)
	if err != nil {
		return forkResult{}, err
	}
	a.progressf("checkpoint %s of %s taken; %s was frozen %s", ck.Name, vm, vm, frozen(ck))
	res := forkResult{Checkpoint: ck, Kept: keep, VMs: []api.VM{}}
	var ferr error
	for i, n := range names {
		t0 := time.Now()
		v, err := a.createVM(ctx, n, api.VMSpec{Detach: true}, ck.ID)
		if err == nil {
			var sr api.StartResult
			sr, err = a.startVM(ctx, v.ID)
			v = sr.VM
		}
		if err != nil {
			ferr = fmt.Errorf("fork %d of %d: %w", i+1, len(names), err)
			break
		}
		res.VMs = append(res.VMs, v)
		a.progressf("fork %d/%d: %s (%s) running, in %s", i+1, len(names), v.Name, v.Runtime.IP, time.Since(t0).Round(time.Millisecond))
	}
	if !keep {
		if _, err := api.Do(context.WithoutCancel(ctx), c, api.RemoveCheckpoint, api.None{}, ck.ID); err != nil {
			ferr = errors.Join(ferr, fmt.Errorf("remove checkpoint %s: %w", ck.Name, err))
		}
	}
	return res, ferr
}

// progressf writes one progress line to stderr.
func (a *App) progressf(format string, args ...any) {
	_, _ = fmt.Fprintf(a.Stderr, format+"\n", args...)
}
