package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bangerdev/banger/internal/buildctx"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// maxDockerfileBytes bounds what -f reads.
const maxDockerfileBytes = 4 << 20

func newImageBuildCmd(app *App) *cobra.Command {
	var tag, file, target string
	var buildArgs []string
	var noCache bool
	cmd := &cobra.Command{
		Use:   "build -t NAME[:TAG] [-f Dockerfile] [--build-arg K=V] [--no-cache] [--target STAGE] CONTEXT",
		Short: "Build an image from a Dockerfile, each RUN step in a VM",
		Long: `Build an image from a Dockerfile and the directory CONTEXT. The CLI reads
the context itself (with your permissions, leaving out what CONTEXT's
.dockerignore lists) and sends it to the daemon, which runs the steps:
FROM (a local or pulled image, scratch, or an earlier stage), RUN in a VM
booted from the files so far (its disk's changes become a layer), COPY
and ADD of local files (--chown, --chmod, --from=STAGE|IMAGE), ENV, ARG,
WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, LABEL, VOLUME, STOPSIGNAL, SHELL,
HEALTHCHECK. Other instructions and flags (ONBUILD, RUN --mount, heredocs,
ADD of a URL) are refused naming their line.

Each step is cached by its inputs: a rebuild with no change says CACHED
for every step and boots nothing. A failing RUN prints its output and exit
code and leaves no VM, layer or image. The result is an OCI image (layers,
config, history) kept like a pulled one, and bootable.

Progress goes to stderr; the result line, or with --format json the
image and each step's cache hit and time, to stdout.`,
		Example: `  banger image build -t myapp:1 .
  banger image build -t myapp -f docker/Dockerfile.prod --build-arg VERSION=1.2 .
  banger image build -t tools --target build --no-cache ./src
  banger image build -t myapp . --format json`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().StringVarP(&tag, "tag", "t", "", "name of the image, NAME[:TAG] (required)")
	cmd.Flags().StringVarP(&file, "file", "f", "", "the Dockerfile (default: CONTEXT/Dockerfile; - reads stdin)")
	cmd.Flags().StringArrayVar(&buildArgs, "build-arg", nil, "a build argument, KEY=VALUE (KEY alone takes the value from the environment)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "run every step, using no cached result")
	cmd.Flags().StringVar(&target, "target", "", "build this stage (by its AS name) and the stages it needs")
	format := formatFlag(cmd, "")
	_ = cmd.MarkFlagRequired("tag")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f, err := parseFormat(*format)
		if err != nil {
			return err
		}
		dir := args[0]
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("build context %s: %w: want a directory", dir, errdefs.ErrInvalid)
		}
		df, err := readDockerfile(app, dir, file)
		if err != nil {
			return err
		}
		q := api.BuildImageQuery{Tag: tag, Target: target, NoCache: noCache}
		for _, a := range buildArgs {
			if k, _, ok := strings.Cut(a, "="); ok {
				if k == "" {
					return fmt.Errorf("--build-arg %q: %w: want KEY=VALUE", a, errdefs.ErrInvalid)
				}
				q.BuildArgs = append(q.BuildArgs, a)
			} else if v, ok := os.LookupEnv(a); ok {
				q.BuildArgs = append(q.BuildArgs, a+"="+v)
			}
		}
		c, err := app.Client()
		if err != nil {
			return err
		}
		pr, pw := io.Pipe()
		go func() {
			_, err := buildctx.Pack(pw, dir, df)
			_ = pw.CloseWithError(err)
		}()
		defer func() { _ = pr.Close() }()
		pv := newProgress(app.Stderr)
		res, err := api.Upload(cmd.Context(), c, api.BuildImage, q, pr, pv.watch())
		pv.Finish()
		if err != nil {
			return err
		}
		return printObject(app.Stdout, f, res, func() error {
			cached := 0
			for _, s := range res.Steps {
				if s.Cached {
					cached++
				}
			}
			_, err := fmt.Fprintf(app.Stdout, "Built %s %s (%s, %d cached, %.1fs)\n", imagepull.FamiliarName(res.Image.Name), res.Image.Digest, plural(len(res.Steps), "step"), cached, res.Seconds)
			return err
		})
	}
	return cmd
}

// readDockerfile reads -f FILE (or stdin for "-"), by default
// CONTEXT/Dockerfile.
func readDockerfile(app *App, dir, file string) ([]byte, error) {
	var r io.Reader
	switch file {
	case "-":
		r = app.Stdin
	case "":
		file = filepath.Join(dir, "Dockerfile")
		fallthrough
	default:
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("dockerfile: %w (%w); name it with -f", err, errdefs.ErrInvalid)
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDockerfileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read dockerfile: %w", err)
	}
	if len(b) > maxDockerfileBytes {
		return nil, fmt.Errorf("dockerfile %s: %w: over %d MiB", file, errdefs.ErrInvalid, maxDockerfileBytes>>20)
	}
	return b, nil
}
