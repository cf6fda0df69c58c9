package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/restart"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The kinds of object inspect finds, in the order it looks a name up
// (docker's: containers before images).
const (
	kindVM     = "vm"
	kindImage  = "image"
	kindKernel = "kernel"
)

var inspectKinds = []string{kindVM, kindImage, kindKernel}

func newInspectCmd(app *App) *cobra.Command {
	var kind string
	cmd := &cobra.Command{
		Use:   "inspect [--type vm|image|kernel] NAME...",
		Short: "Show everything about VMs, images or kernels, as one JSON array",
		Long: `Show VMs (spec, state, host resources, disk strategy), images or kernels.
Each NAME is looked up as a VM, then an image, then a kernel, unless --type
says which. The output is one JSON array, as docker's; --format table shows
each object's summary, and a template runs once per object. A name that
matches nothing is reported and makes banger fail after the others print.`,
		Example: `  banger inspect dev
  banger inspect dev web --format '{{.Name}} {{.Runtime.IP}}'
  banger inspect --type image debian:bookworm
  banger inspect dev --format table`,
		Args: cobra.MinimumNArgs(1),
	}
	format := formatFlag(cmd, "json")
	cmd.Flags().StringVar(&kind, "type", "", "look NAME up only as a vm, image or kernel")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kinds := inspectKinds
		if kind != "" {
			if err := checkKind(kind); err != nil {
				return err
			}
			kinds = []string{kind}
		}
		return app.inspect(cmd, *format, args, kinds...)
	}
	return cmd
}

func checkKind(kind string) error {
	for _, k := range inspectKinds {
		if k == kind {
			return nil
		}
	}
	return fmt.Errorf("%w: --type %q: want vm, image or kernel", errdefs.ErrInvalid, kind)
}

// newInspectOfCmd is `image inspect` and `kernel inspect`: inspect for one
// kind, its own summary by default.
func newInspectOfCmd(app *App, kind, short, example string) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "inspect NAME...",
		Short:   short,
		Example: example,
		Args:    cobra.MinimumNArgs(1),
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return app.inspect(cmd, *format, args, kind)
	}
	return cmd
}

// inspect looks every name up as the first of kinds that has it and prints
// what it found (printObjects). Names not found are reported on stderr
// after, and fail the command.
func (a *App) inspect(cmd *cobra.Command, format string, names []string, kinds ...string) error {
	f, err := parseFormat(format)
	if err != nil {
		return err
	}
	c, err := a.Client()
	if err != nil {
		return err
	}
	var (
		found  []any
		failed []error
	)
	for _, name := range names {
		obj, err := lookup(cmd.Context(), c, name, kinds)
		if err != nil {
			if !errors.Is(err, errdefs.ErrNotFound) {
				return err // the daemon, not the name
			}
			failed = append(failed, err)
			continue
		}
		found = append(found, obj)
	}
	if err := printObjects(a.Stdout, f, found, func(o any) error { return a.printSummary(o) }); err != nil {
		return err
	}
	if len(failed) == 1 {
		return failed[0]
	}
	for _, e := range failed {
		_, _ = fmt.Fprintf(a.Stderr, "banger: %v\n", e)
	}
	if len(failed) > 0 {
		return &ExitError{Code: ExitBanger}
	}
	return nil
}

// lookup finds name as the first of kinds that has it.
func lookup(ctx context.Context, c *api.Client, name string, kinds []string) (any, error) {
	for _, k := range kinds {
		var (
			obj any
			err error
		)
		switch k {
		case kindVM:
			obj, err = api.Do(ctx, c, api.GetVM, api.None{}, name)
		case kindImage:
			obj, err = api.Do(ctx, c, api.GetImage, api.None{}, name)
		case kindKernel:
			obj, err = api.Do(ctx, c, api.GetKernel, api.None{}, name)
		}
		if err == nil {
			return obj, nil
		}
		if !errors.Is(err, errdefs.ErrNotFound) && !errors.Is(err, errdefs.ErrInvalid) || len(kinds) == 1 {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: no VM, image or kernel named %q (see banger ps -a, banger image ls, banger kernel ls)", errdefs.ErrNotFound, name)
}

// printSummary prints one inspected object's table.
func (a *App) printSummary(o any) error {
	switch v := o.(type) {
	case api.VM:
		return printVM(a, v)
	case api.Image:
		return printImage(a, v)
	case api.Kernel:
		return printKernel(a, v)
	}
	return fmt.Errorf("inspect: cannot show %T", o)
}

func printVM(app *App, vm api.VM) error {
	rows := [][]string{
		{"ID:", vm.ID}, {"Name:", vm.Name}, {"State:", string(vm.State)},
		{"Image:", vm.Spec.Image}, {"Kernel:", vm.Spec.Kernel},
		{"CPUs:", strconv.Itoa(vm.Spec.CPUs)}, {"Memory:", units.FormatSize(int64(vm.Spec.MemoryMiB) * units.MiB)},
		{"VMM:", strings.TrimSpace(vm.Runtime.VMM + " " + vm.Runtime.Accel)},
		{"Disk:", strings.TrimSpace(vm.Runtime.DiskStrategy + " " + vm.Runtime.DiskPath)},
		{"IP:", vm.Runtime.IP}, {"Tap:", vm.Runtime.Tap},
	}
	if len(vm.Spec.Labels) > 0 {
		rows = append(rows, []string{"Labels:", formatLabels(vm.Spec.Labels)})
	}
	rows = append(rows, []string{"Started:", timeOrEmpty(vm.Started)}, []string{"Finished:", timeOrEmpty(vm.Stopped)})
	if p := vm.Spec.Restart; p.Name != "" {
		policy := restart.Policy{Mode: restart.Mode(p.Name), MaxRetries: p.MaxRetries}
		rows = append(rows, []string{"Restart policy:", policy.String()}, []string{"Restart count:", strconv.Itoa(vm.RestartCount)},
			[]string{"Restarted:", timeOrEmpty(vm.Restarted)})
	}
	if vm.ExitCode != nil {
		exit := strconv.Itoa(*vm.ExitCode)
		if vm.ExitSignal != "" {
			exit += " (signal " + vm.ExitSignal + ")"
		}
		if vm.OOMKilled {
			exit += " (OOM killed)"
		}
		rows = append(rows, []string{"Exit code:", exit})
	}
	if vm.ExitReason != "" {
		rows = append(rows, []string{"Reason:", vm.ExitReason})
	}
	if vm.Error != "" {
		rows = append(rows, []string{"Error:", vm.ErrorPhase + ": " + vm.Error})
	}
	if err := table(app.Stdout, rows); err != nil {
		return err
	}
	for _, l := range vm.ConsoleTail {
		if _, err := fmt.Fprintln(app.Stdout, "  | "+l); err != nil {
			return err
		}
	}
	return nil
}

// formatLabels prints labels as KEY=VALUE, sorted, comma-separated.
func formatLabels(labels map[string]string) string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func printImage(app *App, img api.Image) error {
	platform := cmp.Or(img.Platform, "-")
	if img.PlatformAssumed {
		platform += " (assumed: the image's config names no os/architecture)"
	}
	rows := [][]string{
		{"Name:", img.Name},
		{"ID:", img.ID},
		{"Source:", img.Source},
		{"Digest:", img.Digest},
		{"Platform:", platform},
		{"Rootfs:", img.Rootfs},
		{"Size:", fmt.Sprintf("%s (content %s, %d inodes, %d device nodes skipped)", units.FormatSize(img.SizeBytes), units.FormatSize(img.ContentBytes), img.Inodes, img.Skipped)},
		{"Agent:", cmp.Or(img.AgentVersion, "none: VMs cannot start from it; pull or import it again once banger-agent is installed")},
		{"Command:", cmp.Or(strings.TrimSpace(strings.Join(append(img.Config.Entrypoint, img.Config.Cmd...), " ")), "-")},
		{"Created:", img.Created.Local().Format(time.RFC3339) + " (" + ago(img.Created, time.Now()) + ")"},
	}
	if len(img.Config.Labels) > 0 {
		rows = append(rows, []string{"Labels:", formatLabels(img.Config.Labels)})
	}
	return table(app.Stdout, rows)
}
