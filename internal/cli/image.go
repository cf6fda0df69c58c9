package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

func newImageCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Pull, build, import, list, inspect, tag, save, load, push, remove and prune images",
		Long: `Images are read-only ext4 root file systems VMs boot from, converted
from OCI images in a registry (pull), in an archive (load), or from root
file system tarballs (import). An OCI image keeps its manifest, config
and layers, so it can be saved, pushed and tagged with its digest
unchanged. Names follow docker: debian:bookworm is
docker.io/library/debian:bookworm.`,
		Example: `  banger image pull debian:bookworm
  banger image import rootfs.tar.gz --name mybox:1
  banger image tag debian:bookworm 127.0.0.1:5000/debian:12
  banger image push 127.0.0.1:5000/debian:12
  banger image save debian:bookworm -o debian.tar && banger image load -i debian.tar
  banger image ls
  banger image inspect debian:bookworm --format json
  banger image rm mybox:1
  banger image prune`,
	}
	cmd.AddCommand(newImagePullCmd(app), newImageBuildCmd(app), newImageImportCmd(app), newImageLsCmd(app), newImageInspectCmd(app), newImageRmCmd(app),
		newImageTagCmd(app), newImageSaveCmd(app), newImageLoadCmd(app), newImagePushCmd(app), newImagePruneCmd(app))
	return cmd
}

func newImagePullCmd(app *App) *cobra.Command {
	var platform string
	var size units.Size
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Pull an OCI image from a registry and convert it to an ext4 image",
		Long: `Pull an image (layers are cached, verified against their digests) and
convert it to a bootable ext4 image with the guest agent injected. Pulling
an image that is already up to date does nothing. Progress goes to stderr;
the result line to stdout.`,
		Example: `  banger image pull debian:bookworm
  banger image pull ghcr.io/me/tool:1.2 --platform linux/arm64
  banger image pull 127.0.0.1:5000/mine:latest --size 2GiB`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&platform, "platform", "", "os/arch[/variant] to pull from a multi-platform image (default: the config's image.platform)")
	cmd.Flags().Var(&size, "size", "image size (e.g. 2GiB; default: the content plus image.headroom_percent)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := app.Client()
		if err != nil {
			return err
		}
		req := api.PullRequest{Reference: args[0], Platform: platform, SizeBytes: int64(size)}
		return buildImage(app, "Pulled", func(w api.Watch) (api.Image, error) {
			return api.Stream(cmd.Context(), c, api.PullImage, req, w)
		})
	}
	return cmd
}

func newImageImportCmd(app *App) *cobra.Command {
	var name string
	var size units.Size
	cmd := &cobra.Command{
		Use:   "import FILE|- --name NAME[:TAG]",
		Short: "Import a root file system tarball (plain, gzip, zstd, xz or bzip2) as an image",
		Long: `Import a root file system tarball as an image, with the same checks and
conversion as a pull. FILE - reads the tarball from stdin. The compression
is detected from the content.`,
		Example: `  banger image import rootfs.tar --name mybox
  banger image import debian.tar.zst --name debian-custom:12 --size 4GiB
  banger image import alpine-minirootfs.tar.xz --name alpine:edge
  docker export c0ffee | banger image import - --name from-docker`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the image, NAME[:TAG] (required)")
	cmd.Flags().Var(&size, "size", "image size (e.g. 2GiB; default: the content plus image.headroom_percent)")
	_ = cmd.MarkFlagRequired("name")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := app.Client()
		if err != nil {
			return err
		}
		body, total, closeBody, err := openTarball(app, args[0])
		if err != nil {
			return err
		}
		defer closeBody()
		q := api.ImageImportQuery{Name: name, Size: int64(size), Source: args[0]}
		if args[0] == "-" {
			q.Source = "stdin"
		}
		return buildImage(app, "Imported", func(w api.Watch) (api.Image, error) {
			upload := &uploadReader{r: body, total: total, report: w.Progress}
			return api.Upload(cmd.Context(), c, api.ImportImage, q, upload, w)
		})
	}
	return cmd
}

// openTarball opens FILE or stdin ("-") and returns its size when known.
func openTarball(app *App, arg string) (io.Reader, int64, func(), error) {
	if arg == "-" {
		return app.Stdin, 0, func() {}, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("%w: %w", errdefs.ErrInvalid, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, 0, nil, fmt.Errorf("%w: %s is not a regular file", errdefs.ErrInvalid, arg)
	}
	return f, fi.Size(), func() { _ = f.Close() }, nil
}

// uploadReader reports how much of the tarball has been sent.
type uploadReader struct {
	r           io.Reader
	total, n    int64
	last        time.Time
	report      progress.Reporter
	reportedEnd bool
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.n += int64(n)
	switch {
	case errors.Is(err, io.EOF) && !u.reportedEnd:
		u.reportedEnd = true
		u.report.Report(progress.Event{ID: "upload", Action: "done", Current: u.n, Total: u.total})
	case time.Since(u.last) > 100*time.Millisecond:
		u.last = time.Now()
		u.report.Report(progress.Event{ID: "upload", Action: "upload", Current: u.n, Total: u.total})
	}
	return n, err
}

// buildImage runs one image-building request, its progress drawn on
// stderr, and prints the result line on stdout.
func buildImage(app *App, verb string, call func(api.Watch) (api.Image, error)) error {
	pv := newProgress(app.Stderr)
	img, err := call(pv.watch())
	pv.Finish()
	if err != nil {
		return err
	}
	return printImageResult(app.Stdout, verb, &img)
}

func printImageResult(w io.Writer, verb string, img *api.Image) error {
	agent := "agent " + img.AgentVersion
	if img.AgentVersion == "" {
		agent = "no guest agent"
	}
	_, err := fmt.Fprintf(w, "%s %s %s (%s, %s)\n", verb, imagepull.FamiliarName(img.Name), img.Digest, units.FormatSize(img.SizeBytes), agent)
	return err
}

func newImageLsCmd(app *App) *cobra.Command {
	l := listing[api.Image]{keys: imageFilterKeys, match: imageFilter, id: func(img api.Image) string { return img.ID }, rows: imageRows}
	cmd := &cobra.Command{
		Use:     "ls [-q] [--filter KEY=VALUE] [--format FORMAT]",
		Aliases: []string{"list"},
		Short:   "List images",
		Long: `List images. --filter keeps the images that match, with docker's rules
(values of one key OR, different keys AND). Keys: name (a glob over the
name with or without its tag; docker's "reference"), label (the image
config's labels, KEY or KEY=VALUE) and source (pull or import).`,
		Example: `  banger image ls
  banger image ls --filter 'name=debian*' -q
  banger image ls --format '{{.Name}} {{.SizeBytes}}'
  banger image ls --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return l.print(app.Stdout, func(filters) ([]api.Image, error) { return fetch(cmd, app, api.ListImages, api.None{}) })
		},
	}
	l.addFlags(cmd, "image ids")
	return cmd
}

func imageRows(imgs []api.Image) [][]string {
	rows := [][]string{{"NAME", "ID", "DIGEST", "SIZE", "AGENT", "CREATED"}}
	now := time.Now()
	for _, img := range imgs {
		rows = append(rows, []string{imagepull.FamiliarName(img.Name), shortID(img.ID), shortDigest(img.Digest),
			units.FormatSize(img.SizeBytes), cmp.Or(img.AgentVersion, "none"), ago(img.Created, now)})
	}
	return rows
}

func shortDigest(d string) string {
	if len(d) > 7+12 {
		return d[:7+12]
	}
	return d
}

func newImageInspectCmd(app *App) *cobra.Command {
	return newInspectOfCmd(app, kindImage, "Show images: name, digest, platform, rootfs path, size, config",
		`  banger image inspect debian:bookworm
  banger image inspect debian:bookworm --format json | jq -r '.[0].rootfs'
  banger image inspect busybox alpine --format '{{.Name}} {{.Platform}}'`)
}

func newImageRmCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove images (refused while a VM uses one)",
		Example: `  banger image rm debian:bookworm
  banger image rm mybox:1 mybox:2`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removeEach(cmd, app, api.RemoveImage, args)
		},
	}
}

// The top-level aliases a docker user types: pull, images, rmi.

func newPullCmd(app *App) *cobra.Command {
	return aliasOf(newImagePullCmd(app), "pull REF", "image pull")
}

func newImagesCmd(app *App) *cobra.Command {
	return aliasOf(newImageLsCmd(app), "images [-q] [--filter KEY=VALUE] [--format FORMAT]", "image ls")
}

func newRmiCmd(app *App) *cobra.Command {
	return aliasOf(newImageRmCmd(app), "rmi NAME...", "image rm")
}

// aliasOf renames a subcommand's copy for the top level; its help says
// which command it is.
func aliasOf(cmd *cobra.Command, use, of string) *cobra.Command {
	cmd.Use, cmd.Aliases = use, nil
	cmd.Short += " (banger " + of + ")"
	cmd.Example = strings.ReplaceAll(cmd.Example, "banger "+of, "banger "+strings.Fields(use)[0])
	return cmd
}
