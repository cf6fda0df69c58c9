package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func newKernelCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "kernel",
		Short: "Manage the guest kernels VMs boot",
		Long: `The kernel catalog holds the guest kernels VMs boot. A kernel is checked
when it is added: one that cannot boot banger's guests (no ext4, no virtio
block device or transport) is refused with the options it lacks. When its
virtio drivers are modules, banger builds an initramfs that loads them.`,
		Example: `  banger kernel pull debian-cloud
  banger kernel import /boot/vmlinuz-$(uname -r) --name host
  banger kernel ls`,
	}
	cmd.AddCommand(newKernelImportCmd(app), newKernelPullCmd(app), newKernelLsCmd(app), newKernelInspectCmd(app), newKernelRmCmd(app))
	return cmd
}

func newKernelImportCmd(app *App) *cobra.Command {
	var req api.KernelImportRequest
	var upload bool
	cmd := &cobra.Command{
		Use:   "import PATH",
		Short: "Add a kernel from a vmlinux, bzImage, .deb, tarball or directory",
		Long: `Add a kernel to the catalog. PATH is one of:
  - an ELF vmlinux (a Firecracker guest kernel);
  - a bzImage (kept for QEMU; the ELF vmlinux inside is extracted for Firecracker);
  - a Debian linux-image-*.deb;
  - a tarball or directory holding boot/vmlinu[xz]-<release>, boot/config-<release>
    and lib/modules/<release>/.
A bare kernel file's config is read from config-<release> next to it, an
embedded IKCONFIG, or --config; its modules from ../lib/modules/<release>
or --modules. The name defaults to the kernel release.

The daemon reads PATH on its own host; --upload sends the file instead.`,
		Example: `  banger kernel import ./linux-image-6.1.0-56-cloud-amd64_6.1.192-2_amd64.deb
  banger kernel import /boot/vmlinuz-$(uname -r) --name host --default
  banger kernel import ./vmlinux --config ./vmlinux.config --name fc
  banger kernel import --upload ./kernel.tar.zst --name custom`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "catalog name (default: the kernel release)")
	cmd.Flags().BoolVar(&req.Default, "default", false, "make it the default kernel (config kernel.default overrides)")
	cmd.Flags().StringVar(&req.Config, "config", "", "kernel config (.config) of a bare kernel file")
	cmd.Flags().StringVar(&req.Modules, "modules", "", "lib/modules/<release> directory of a bare kernel file")
	cmd.Flags().BoolVar(&upload, "upload", false, "send the file to the daemon instead of passing its path")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := app.Client()
		if err != nil {
			return err
		}
		if upload && (req.Config != "" || req.Modules != "") {
			return fmt.Errorf("%w: --config and --modules name paths on the daemon's host; with --upload send a tarball holding boot/config-<release> and lib/modules/<release>/", errdefs.ErrInvalid)
		}
		if upload {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
			}
			defer func() { _ = f.Close() }()
			q := api.KernelUploadQuery{Name: req.Name, Default: req.Default, Source: args[0]}
			return addKernel(app, func(w api.Watch) (api.Kernel, error) {
				return api.Upload(cmd.Context(), c, api.UploadKernel, q, f, w)
			})
		}
		req.Path = args[0]
		for _, p := range []*string{&req.Path, &req.Config, &req.Modules} {
			if *p != "" {
				if *p, err = filepath.Abs(*p); err != nil {
					return err
				}
			}
		}
		return addKernel(app, func(w api.Watch) (api.Kernel, error) {
			return api.Stream(cmd.Context(), c, api.ImportKernel, req, w)
		})
	}
	return cmd
}

// addKernel runs one import or pull request with a progress view and
// prints the kernel it added.
func addKernel(app *App, send func(api.Watch) (api.Kernel, error)) error {
	pv := newProgress(app.Stderr)
	k, err := send(pv.watch())
	pv.Finish()
	if err != nil {
		return err
	}
	return printAdded(app, k)
}

func newKernelPullCmd(app *App) *cobra.Command {
	var req api.KernelPullRequest
	var catalog []string
	for _, e := range kernelcat.Catalog() {
		catalog = append(catalog, fmt.Sprintf("  %-20s %s", e.Name, e.Description))
	}
	cmd := &cobra.Command{
		Use:   "pull NAME|URL",
		Short: "Fetch a kernel from the built-in catalog or a URL",
		Long: `Fetch a kernel and add it to the catalog. NAME is one of:
` + strings.Join(catalog, "\n") + `
A URL (with --sha256) may point at any file kernel import accepts. Downloads
are verified and resume after an interruption.`,
		Example: `  banger kernel pull debian-cloud
  banger kernel pull firecracker-6.1 --default
  banger kernel pull https://example.com/vmlinux-6.1 --sha256 e20e46d0...`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "catalog name (default: the catalog entry's name)")
	cmd.Flags().BoolVar(&req.Default, "default", false, "make it the default kernel (config kernel.default overrides)")
	cmd.Flags().StringVar(&req.SHA256, "sha256", "", "expected sha256 of a URL download")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := app.Client()
		if err != nil {
			return err
		}
		req.Ref = args[0]
		return addKernel(app, func(w api.Watch) (api.Kernel, error) {
			return api.Stream(cmd.Context(), c, api.PullKernel, req, w)
		})
	}
	return cmd
}

func printAdded(app *App, k api.Kernel) error {
	line := fmt.Sprintf("kernel %s (%s) added", k.Name, k.Version)
	if k.Initrd != "" {
		line += fmt.Sprintf(", initramfs with %d modules", k.Modules)
	}
	if k.Default {
		line += ", default"
	}
	_, err := fmt.Fprintln(app.Stdout, line)
	return err
}

func newKernelLsCmd(app *App) *cobra.Command {
	l := listing[api.Kernel]{id: func(k api.Kernel) string { return k.Name }, rows: kernelRows}
	cmd := &cobra.Command{
		Use:     "ls [-q] [--format FORMAT]",
		Aliases: []string{"list"},
		Short:   "List the kernels in the catalog",
		Example: `  banger kernel ls
  banger kernel ls -q
  banger kernel ls --format '{{.Name}} {{.Version}}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(filters) ([]api.Kernel, error) { return fetch(cmd, app, api.ListKernels, api.None{}) })
		},
	}
	l.addFlags(cmd, "kernel names")
	return cmd
}

func kernelRows(ks []api.Kernel) [][]string {
	rows := [][]string{{"NAME", "VERSION", "DEFAULT", "BOOTS", "INITRD", "SIZE", "CREATED"}}
	now := time.Now()
	for _, k := range ks {
		rows = append(rows, []string{k.Name, k.Version, mark(k.Default), boots(k), initrdSummary(k), units.FormatSize(k.SizeBytes), ago(k.Created, now)})
	}
	return rows
}

func mark(b bool) string {
	if b {
		return "*"
	}
	return ""
}

// boots says which files a VMM can boot: vmlinux always, bzImage when kept.
func boots(k api.Kernel) string {
	if k.BzImage != "" {
		return "vmlinux, bzImage"
	}
	return "vmlinux"
}

func initrdSummary(k api.Kernel) string {
	if k.Initrd == "" {
		return "-"
	}
	return fmt.Sprintf("%d modules (%s)", k.Modules, k.InitrdCodec)
}

func newKernelInspectCmd(app *App) *cobra.Command {
	return newInspectOfCmd(app, kindKernel, "Show kernels: files and config check",
		`  banger kernel inspect debian-cloud
  banger kernel inspect debian-cloud --format json`)
}

func printKernel(app *App, k api.Kernel) error {
	orNone := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	pvh := "no (QEMU boots the bzImage)"
	if k.PVH {
		pvh = "yes"
	}
	rows := [][]string{
		{"Name:", k.Name},
		{"Version:", k.Version},
		{"Default:", strconv.FormatBool(k.Default)},
		{"Source:", orNone(k.Source)},
		{"vmlinux:", k.Vmlinux},
		{"PVH entry:", pvh},
		{"bzImage:", orNone(k.BzImage)},
		{"Config:", fmt.Sprintf("%s (from %s)", orNone(k.Config), orNone(k.ConfigSource))},
		{"Initramfs:", orNone(k.Initrd)},
		{"Modules:", initrdSummary(k)},
		{"Size:", units.FormatSize(k.SizeBytes)},
	}
	if err := table(app.Stdout, rows); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(app.Stdout)
	checks := [][]string{{"OPTION", "STATE", "NEEDED FOR"}}
	for _, c := range k.Checks {
		state := c.State
		if c.Module != "" {
			state += " (" + c.Module + ")"
		}
		if c.Essential {
			state += ", essential"
		}
		checks = append(checks, []string{c.Option, state, c.Need})
	}
	return table(app.Stdout, checks)
}

func newKernelRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove kernels no VM uses",
		Example: `  banger kernel rm debian-cloud`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := app.Client()
			if err != nil {
				return err
			}
			for _, name := range args {
				if _, err := api.Do(cmd.Context(), c, api.RemoveKernel, api.None{}, name); err != nil {
					return err
				}
				_, _ = fmt.Fprintln(app.Stdout, name)
			}
			return nil
		},
	}
}
