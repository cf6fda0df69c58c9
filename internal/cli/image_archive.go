package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The image commands that move images in and out: tag, save, load, push.

func newImageTagCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tag SOURCE NAME[:TAG]",
		Short: "Give an image a second name",
		Long: `Record image SOURCE under a second name as well, as docker tag does: the
same digest, config and layers. The two names share their files (hard
links), so a tag costs no space, and removing one name leaves the other
working. An image already called NAME is replaced unless a VM uses it.`,
		Example: `  banger image tag debian:bookworm mydebian:1
  banger image tag busybox 127.0.0.1:5000/tools/busybox:v1 && banger image push 127.0.0.1:5000/tools/busybox:v1
  banger image tag 3f2a mine --format json`,
		Args: cobra.ExactArgs(2),
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return fetchAndShow(cmd, app, *format, api.TagImage, api.TagImageRequest{Source: args[0], Name: args[1]}, nil, func(img api.Image) error {
			return printImageResult(app.Stdout, "Tagged", &img)
		})
	}
	return cmd
}

func newImageSaveCmd(app *App) *cobra.Command {
	var out, archiveFormat string
	cmd := &cobra.Command{
		Use:   "save NAME... [-o FILE] [--format oci|docker]",
		Short: "Write images to a tar archive (OCI image layout or docker save's)",
		Long: `Write one or more images to a tar archive, their manifests, configs and
layers as they were pulled or built (the digests do not change). The
default is an OCI image layout whose index names each image
(org.opencontainers.image.ref.name); --format docker writes what docker
save writes, the same layout with manifest.json and repositories beside
it, which docker load takes. Without -o the archive goes to stdout, unless
stdout is a terminal. Images imported from a root file system tarball have
no OCI layers and cannot be saved.`,
		Example: `  banger image save debian:bookworm -o debian.tar
  banger image save busybox alpine:3.20 --format docker | docker load
  banger image save mine:1 | ssh other-host banger image load`,
		Args: cobra.MinimumNArgs(1),
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of stdout")
	cmd.Flags().StringVar(&archiveFormat, "format", "oci", "archive format: oci or docker")
	// Registered before addCompletions, whose --format words (table,
	// json) are not this flag's.
	_ = cmd.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"oci", "docker"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if out == "" {
			if isTerminalWriter(app.Stdout) {
				return fmt.Errorf("%w: save writes a tar archive; give -o FILE or redirect stdout", errdefs.ErrInvalid)
			}
		}
		c, err := app.Client()
		if err != nil {
			return err
		}
		rc, err := api.Open(cmd.Context(), c, api.SaveImages, api.SaveImagesQuery{Names: args, Format: archiveFormat})
		if err != nil {
			return err
		}
		defer func() { _ = rc.Close() }()
		if out == "" {
			if _, err := io.Copy(app.Stdout, rc); err != nil {
				return fmt.Errorf("save: the archive was cut short: %w", err)
			}
			return nil
		}
		return writeFileAtomic(out, rc)
	}
	return cmd
}

// writeFileAtomic writes r to path through a temporary file beside it,
// renamed into place only when r ended cleanly: a broken stream leaves
// no file (and an older one at path untouched).
func writeFileAtomic(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	_, err = io.Copy(tmp, r)
	if err != nil {
		err = fmt.Errorf("save: the archive was cut short (nothing written to %s): %w", path, err)
	} else if err = tmp.Close(); err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
	}
	return err
}

func newImageLoadCmd(app *App) *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from a tar archive (OCI image layout or docker save)",
		Long: `Load every image of a tar archive: an OCI image layout (what banger image
save writes, skopeo's oci-archive) or a docker save archive (either docker's
current format or the older one with only manifest.json). Each image is
recorded under the name the archive gives it, converted as a pull is, with
every blob checked against its digest. An archive that is broken or
hostile (absolute or ".." paths, links, oversized members, missing blobs,
digest mismatches) is refused and loads nothing. Without -i the archive is
read from stdin.`,
		Example: `  banger image load -i debian.tar
  docker save alpine:3.20 | banger image load
  banger image load -i images.tar --format json`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringVarP(&in, "input", "i", "", "read from FILE instead of stdin")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, c, err := formatAndClient(app, *format)
		if err != nil {
			return err
		}
		arg := in
		if arg == "" {
			if app.stdinIsTerminal() {
				return fmt.Errorf("%w: load reads a tar archive; give -i FILE or pipe one to stdin", errdefs.ErrInvalid)
			}
			arg = "-"
		}
		body, total, closeBody, err := openTarball(app, arg)
		if err != nil {
			return err
		}
		defer closeBody()
		q := api.LoadImagesQuery{Source: in}
		if in == "" {
			q.Source = "stdin"
		}
		pv := newProgress(app.Stderr)
		upload := &uploadReader{r: body, total: total, report: pv.Report}
		imgs, err := api.Upload(cmd.Context(), c, api.LoadImages, q, upload, pv.watch())
		pv.Finish()
		if err != nil {
			return err
		}
		return printList(app.Stdout, f, imgs, func(imgs []api.Image) [][]string {
			var rows [][]string
			for _, img := range imgs {
				rows = append(rows, []string{"Loaded " + imagepull.FamiliarName(img.Name), img.Digest})
			}
			return rows
		})
	}
	return cmd
}

func newImagePushCmd(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "push NAME [REF]",
		Short: "Push an image to a registry",
		Long: `Push image NAME to the registry its name points at, or to REF. Its
manifest, config and layers go as they were pulled or built, so the
pushed digest is the image's own (printed at the end). Layers the
registry has already are not sent again. Credentials come from the
daemon's docker config file (root's ~/.docker/config.json: docker login);
plain HTTP is used only for loopback registries and those listed in
image.insecure_registries. Images imported from a root file system
tarball have no OCI layers and cannot be pushed.`,
		Example: `  banger image push 127.0.0.1:5000/tools/app:1
  banger image push mine:1 registry.example.com/team/mine:1
  banger image push mine:1 ghcr.io/me/mine:1 --format json`,
		Args: cobra.RangeArgs(1, 2),
	}
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, c, err := formatAndClient(app, *format)
		if err != nil {
			return err
		}
		req := api.PushImageRequest{Name: args[0]}
		if len(args) == 2 {
			req.Reference = args[1]
		}
		pv := newProgress(app.Stderr)
		res, err := api.Stream(cmd.Context(), c, api.PushImage, req, pv.watch())
		pv.Finish()
		if err != nil {
			return err
		}
		return printObject(app.Stdout, f, res, func() error {
			_, err := fmt.Fprintf(app.Stdout, "Pushed %s %s (%d of %d layers uploaded)\n", res.Reference, res.Digest, res.Uploaded, res.Layers)
			return err
		})
	}
	return cmd
}
