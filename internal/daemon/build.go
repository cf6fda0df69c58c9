package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/buildctx"
	"github.com/bangerdev/banger/internal/commit"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagebuild"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/layerdiff"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// registerBuildRoute adds image build to rt: the body is the build
// upload, read into a scratch directory the build removes.
func (d *Daemon) registerBuildRoute(rt *api.Router) {
	api.HandleStream(rt, api.BuildImage, func(r *http.Request, q api.BuildImageQuery, ew *api.EventWriter) (api.BuildResult, error) {
		return d.build(r.Context(), q, func(dir string) (*buildctx.Upload, error) { return buildctx.Receive(r.Body, dir, 0) }, ew)
	})
}

// build runs one build; receive reads its upload into the scratch
// directory it is given (banger's upload, or the Engine API's context
// tar: internal/buildctx reads both).
func (d *Daemon) build(ctx context.Context, q api.BuildImageQuery, receive func(dir string) (*buildctx.Upload, error), sink progress.Sink) (api.BuildResult, error) {
	if q.Tag == "" {
		return api.BuildResult{}, fmt.Errorf("%w: build needs ?tag=NAME[:TAG]", errdefs.ErrInvalid)
	}
	args := map[string]string{}
	for _, a := range q.BuildArgs {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return api.BuildResult{}, fmt.Errorf("%w: build arg %q: want KEY=VALUE", errdefs.ErrInvalid, a)
		}
		args[k] = v
	}
	scratch, err := os.MkdirTemp(d.layout.Tmp(), buildScratch)
	if err != nil {
		return api.BuildResult{}, fmt.Errorf("build %s: %w", q.Tag, err)
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	ctxDir := filepath.Join(scratch, "context")
	cacheDir := d.layout.BuildCache()
	for _, dir := range []string{ctxDir, cacheDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return api.BuildResult{}, fmt.Errorf("build %s: %w", q.Tag, err)
		}
	}
	up, err := receive(ctxDir)
	if err != nil {
		return api.BuildResult{}, fsutil.NoSpace(fmt.Errorf("build %s: %w", q.Tag, err), scratch)
	}
	platform := cmp.Or(d.cfg.Image.Platform, imagepull.HostPlatform)
	// The lease keeps what the build works from (its base and cache
	// images, their blobs, the step files) from a prune meanwhile.
	lease := d.images.BuildLease()
	defer lease.Release()
	b := &imagebuild.Builder{
		Images: buildImages{d.images, lease},
		VMs:    buildVMs{vms: d.vms, out: d.outputs},
		Diff: func(ctx context.Context, lower, upper string, w io.Writer) error {
			_, err := layerdiff.Diff(ctx, lower, upper, w, layerdiff.Options{TmpDir: scratch})
			return err
		},
	}
	res, err := b.Build(ctx, up, imagebuild.Options{
		Tag: q.Tag, BuildArgs: args, Target: q.Target, NoCache: q.NoCache, Platform: platform,
		ScratchDir: scratch, CacheDir: cacheDir, MaxFilesBytes: int64(d.cfg.Image.MaxLayerBytes),
	}, sink)
	if err != nil {
		return api.BuildResult{}, fsutil.NoSpace(fmt.Errorf("build %s: %w", q.Tag, err), scratch)
	}
	img, err := d.images.Find(res.Name)
	if err != nil {
		return api.BuildResult{}, err
	}
	out := api.BuildResult{Image: wireImage(img), Seconds: res.Seconds}
	for _, s := range res.Steps {
		out.Steps = append(out.Steps, api.BuildStep{Stage: s.Stage, Step: s.Step, Instruction: s.Instruction, Cached: s.Cached, Seconds: s.Seconds})
	}
	return out, nil
}

// buildLabel marks the VMs a build's RUN steps make.
const buildLabel = "banger.build"

// reconcileScratch removes what interrupted builds and commits left:
// first the images a layer diff still had mounted in their scratch
// directories (which could not be removed under them), then the
// directories and the builds' VMs.
func (d *Daemon) reconcileScratch(ctx context.Context) {
	if n, err := layerdiff.Sweep(ctx, d.layout.Tmp()); err != nil || n > 0 {
		d.log.Info("unmounted what interrupted layer diffs left", "mounts", n, "error", err)
	}
	d.reconcileBuilds(ctx)
	dirs, _ := filepath.Glob(filepath.Join(d.layout.Tmp(), commit.ScratchPrefix+"*"))
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			d.log.Warn("remove what an interrupted commit left", "dir", dir, "error", err)
		}
	}
}

// reconcileBuilds removes what builds a previous daemon was running
// left: their RUN steps' VMs and their scratch directories (a build does
// not survive its daemon: the client's stream is gone).
func (d *Daemon) reconcileBuilds(ctx context.Context) {
	left, err := d.vms.List(true, buildLabel)
	if err != nil {
		d.log.Warn("list the VMs of interrupted builds", "error", err)
	}
	for _, vm := range left {
		if err := d.vms.Remove(ctx, vm.ID, true); err != nil {
			d.log.Warn("remove the VM of an interrupted build", "vm", vm.Name, "error", err)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(d.layout.Tmp(), buildScratch+"*"))
	for _, dir := range dirs {
		if err := os.RemoveAll(dir); err != nil {
			d.log.Warn("remove what an interrupted build left", "dir", dir, "error", err)
		}
	}
	if len(left)+len(dirs) > 0 {
		d.log.Info("removed what interrupted builds left", "vms", len(left), "dirs", len(dirs))
	}
}

// buildScratch names a build's scratch directory in the layout's Tmp.
const buildScratch = "build-"

// buildImages is the image catalog as a build uses it. Every name it is
// asked about is leased before it is looked up, with its blobs after.
type buildImages struct {
	s     *images.Service
	lease *images.Lease
}

func (b buildImages) stored(img images.Image) imagebuild.Stored {
	b.lease.Keep(img.Name, img.Layers...)
	return imagebuild.Stored{Name: img.Name, ID: img.ID, Digest: img.Digest, Rootfs: img.Rootfs}
}

// Base finds ref in the catalog, pulling it when it is not there.
func (b buildImages) Base(ctx context.Context, ref string, sink progress.Sink) (v1.Image, imagebuild.Stored, error) {
	b.lease.Keep(ref)
	rec, err := b.s.Find(ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		rec, err = b.s.Pull(ctx, ref, images.PullOptions{}, sink)
	}
	if err != nil {
		return nil, imagebuild.Stored{}, err
	}
	st := b.stored(rec)
	img, err := b.s.OCI(rec.Name)
	if err != nil {
		return nil, imagebuild.Stored{}, err
	}
	return img, st, nil
}

func (b buildImages) Find(name string) (imagebuild.Stored, error) {
	b.lease.Keep(name)
	rec, err := b.s.Find(name)
	if err != nil {
		return imagebuild.Stored{}, err
	}
	return b.stored(rec), nil
}

func (b buildImages) OCI(name string) (v1.Image, error) {
	b.lease.Keep(name)
	return b.s.OCI(name)
}

func (b buildImages) Store(ctx context.Context, name string, img v1.Image, sink progress.Sink) (imagebuild.Stored, error) {
	b.lease.Keep(name)
	rec, err := b.s.Store(ctx, name, img, images.StoreOptions{Source: "build"}, sink)
	if err != nil {
		return imagebuild.Stored{}, err
	}
	return b.stored(rec), nil
}

// buildVMs runs a build's RUN steps as VMs whose main process is the
// step's command.
type buildVMs struct {
	vms *vms.Service
	out *vmlogs.Service
}

func (b buildVMs) Create(ctx context.Context, spec imagebuild.RunSpec) (string, error) {
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	vm, err := b.vms.Create(ctx, "build-"+hex.EncodeToString(id), vms.Spec{
		Image: spec.Image, Entrypoint: spec.Argv[:1], Cmd: spec.Argv[1:], Env: spec.Env,
		WorkingDir: spec.WorkingDir, User: spec.User, Detach: true,
		// A build's cache image boots once: saving a boot snapshot of it
		// (its guest's memory) would cost time and disk for nothing. A
		// base image may be restored from one, and saved into one.
		Cold:   imagebuild.IsCache(spec.Image),
		Labels: map[string]string{buildLabel: "run"},
	})
	return vm.ID, err
}

// Run starts the VM with a subscription to its output made first (as
// `banger run` attaches before the start), copies the output to out
// until the run ends, and answers the recorded exit status.
func (b buildVMs) Run(ctx context.Context, id string, out io.Writer) (int, error) {
	// Follow with Next always subscribes, the VM running or not.
	_, sub, err := b.out.Subscribe(id, vmlogs.SubOptions{Follow: true, Next: true})
	if err != nil {
		return 0, err
	}
	defer sub.Close()
	if _, err := b.vms.Start(ctx, id); err != nil {
		return 0, err
	}
	for {
		ev, err := sub.Next(ctx)
		if err != nil || ev.Exit != nil {
			break
		}
		_, _ = out.Write(ev.Entry.Data)
	}
	vm, err := b.vms.Wait(ctx, id)
	if err != nil {
		return 0, err
	}
	if vm.ExitCode == nil {
		return 0, fmt.Errorf("vm %s ended without an exit status; its console says why: banger logs --console %s", vm.Name, vm.Name)
	}
	return *vm.ExitCode, nil
}

func (b buildVMs) DiskCopy(ctx context.Context, id, dst string) error {
	_, err := b.vms.DiskCopy(ctx, id, dst)
	return err
}

func (b buildVMs) Remove(ctx context.Context, id string) error {
	return b.vms.Remove(ctx, id, true)
}
