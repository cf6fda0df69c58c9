package imagebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/bangerdev/banger/internal/dockerfile"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// ExitError is a RUN whose command did not exit 0.
type ExitError struct {
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("the command exited with status %d", e.Code)
}

// run runs a RUN step: a cache hit takes the kept image; otherwise a VM
// boots from the current files, runs the command, and its disk's
// changes become the step's layer. The VM goes whatever happens.
func (r *build) run(ctx context.Context, s *state, step dockerfile.Step) (bool, error) {
	cf, err := s.img.ConfigFile()
	if err != nil {
		return false, fmt.Errorf("read the image's config: %w", err)
	}
	spec := RunSpec{Argv: step.Args, Env: runEnv(s, cf), WorkingDir: cf.Config.WorkingDir, User: cf.Config.User}
	if step.ShellForm {
		spec.Argv = append(shell(&cf.Config), strings.Join(step.Args, " "))
	}
	inputs, err := json.Marshal(spec)
	if err != nil {
		return false, err
	}
	key := chain(s.key, step.Key(), string(inputs))
	name := CacheName(key)
	if !r.opts.NoCache {
		rec, err := r.Images.Find(name)
		if err == nil {
			img, err := r.Images.OCI(name)
			if err != nil {
				return false, fmt.Errorf("cached step %s: %w", name, err)
			}
			s.img, s.key, s.boot = img, key, rec
			return true, nil
		}
		if !errors.Is(err, errdefs.ErrNotFound) {
			return false, err
		}
	}
	boot, err := r.bootable(ctx, s)
	if err != nil {
		return false, err
	}
	spec.Image = boot.Name
	layer, err := r.execute(ctx, spec, boot)
	if err != nil {
		return false, err
	}
	img, err := mutate.Append(s.img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: r.now().UTC()}, CreatedBy: step.Source, Comment: historyComment,
	}})
	if err != nil {
		return false, err
	}
	rec, err := r.Images.Store(ctx, name, img, progress.Quiet{})
	if err != nil {
		return false, fmt.Errorf("keep the step's image: %w", err)
	}
	s.img, s.key, s.boot = img, key, rec
	return false, nil
}

// execute runs spec in a new VM and answers the layer of its changes.
func (r *build) execute(ctx context.Context, spec RunSpec, boot Stored) (v1.Layer, error) {
	id, err := r.VMs.Create(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("create the step's VM: %w", err)
	}
	defer func() {
		if err := r.VMs.Remove(context.WithoutCancel(ctx), id); err != nil {
			r.sink.Message(fmt.Sprintf("[warning] remove the step's VM %s: %v; banger rm -f %s removes it", id, err, id))
		}
	}()
	out := &lineWriter{sink: r.sink}
	code, err := r.VMs.Run(ctx, id, out)
	out.flush()
	if err != nil {
		return nil, fmt.Errorf("run the step's VM: %w", err)
	}
	if code != 0 {
		return nil, &ExitError{Code: code}
	}
	disk := r.scratch("disk.ext4")
	defer func() { _ = os.Remove(disk) }()
	if err := r.VMs.DiskCopy(ctx, id, disk); err != nil {
		return nil, fmt.Errorf("copy the step's disk: %w", err)
	}
	file := r.scratch("layer.tar")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	err = r.Diff(ctx, boot.Rootfs, disk, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("diff the step's disk: %w", err)
	}
	return tarball.LayerFromFile(file)
}

// bootable answers a recorded image with the stage's current files,
// recording one under the state's cache name when there is none.
func (r *build) bootable(ctx context.Context, s *state) (Stored, error) {
	if s.boot.Name != "" {
		return s.boot, nil
	}
	name := CacheName(s.key)
	rec, err := r.Images.Find(name)
	if errors.Is(err, errdefs.ErrNotFound) {
		rec, err = r.Images.Store(ctx, name, s.img, progress.Quiet{})
	}
	if err != nil {
		return Stored{}, fmt.Errorf("record the files to boot: %w", err)
	}
	s.boot = rec
	return rec, nil
}

// runEnv is a RUN's environment: the stage's ARG values, then the
// image's ENV, which wins.
func runEnv(s *state, cf *v1.ConfigFile) []string {
	env := append([]string{}, s.args...)
	for _, e := range cf.Config.Env {
		k, v, _ := strings.Cut(e, "=")
		env = setEnv(env, k, v)
	}
	return env
}

// lineWriter turns a RUN's output into the sink's lines.
type lineWriter struct {
	sink progress.Sink
	buf  []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.sink.Message(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 {
		w.flush()
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.sink.Message(string(w.buf))
		w.buf = nil
	}
}

var _ io.Writer = (*lineWriter)(nil)
