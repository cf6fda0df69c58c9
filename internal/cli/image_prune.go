package cli

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/pkg/api"
)

func newImagePruneCmd(app *App) *cobra.Command {
	var req api.PruneImagesRequest
	cmd := &cobra.Command{
		Use:   "prune [--build-cache] [--all] [--dry-run] [--format FORMAT]",
		Short: "Remove the build cache and cached layers no image needs",
		Long: `Remove what no VM needs, as docker image prune and builder prune together.

By default: the build cache (the hidden images image build keeps for its
RUN steps, and its COPY/ADD layers and step markers) and every layer in
the blob cache that no remaining image names. Named images are never
removed without --all.

--all also removes every image no VM uses; the report names each one.
--build-cache removes only the build cache (and the layers only it
named), as docker builder prune. --dry-run removes nothing and says what
would go.

An image a VM uses is kept, and so is everything a pull, load or build
running meanwhile is working with; while a build runs, the build's step
files are kept (prune again after it).`,
		Example: `  banger image prune
  banger image prune --dry-run
  banger image prune --all
  banger image prune --build-cache --format json`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().BoolVar(&req.All, "all", false, "also remove every image no VM uses")
	cmd.Flags().BoolVar(&req.BuildCache, "build-cache", false, "remove only the build cache")
	cmd.Flags().BoolVar(&req.DryRun, "dry-run", false, "say what would be removed, remove nothing")
	cmd.MarkFlagsMutuallyExclusive("all", "build-cache")
	format := formatFlag(cmd, "table")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return fetchAndShow(cmd, app, *format, api.PruneImages, req, nil, func(res api.PruneImagesResult) error {
			return printPruneResult(app.Stdout, res)
		})
	}
	return cmd
}

// printPruneResult is image prune's table: each image, the counts of
// cache entries, layers and step files, and the space freed.
func printPruneResult(w io.Writer, res api.PruneImagesResult) error {
	verb, freed := "Removed", "Reclaimed"
	if res.DryRun {
		verb, freed = "Would remove", "Would reclaim"
	}
	for _, img := range res.Images {
		if _, err := fmt.Fprintf(w, "%s image %s (%s)\n", verb, img.Name, shortDigest(img.Digest)); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(w, "%s %d build cache images, %d build step files, %d cached layers\n", verb, len(res.CacheImages), res.StepFiles, len(res.Blobs)); err != nil {
		return err
	}
	for _, n := range res.Notes {
		if _, err := fmt.Fprintf(w, "Note: %s\n", n); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%s %s\n", freed, units.FormatSize(res.BytesFreed))
	return err
}
