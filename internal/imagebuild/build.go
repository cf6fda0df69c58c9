package imagebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/buildctx"
	"github.com/bangerdev/banger/internal/dockerfile"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// state is a stage's progress: its current image, the cache key of
// everything that made it, and a recorded image with the same files
// (what a RUN boots; "" once a layer has been added since).
type state struct {
	img  v1.Image
	key  string
	boot Stored
	// args are the stage's ARG values in scope (KEY=VALUE).
	args []string
	// cmdSet says the stage set CMD: ENTRYPOINT then keeps it.
	cmdSet bool
}

// build is one Build call's working set.
type build struct {
	*Builder
	plan   *dockerfile.Plan
	opts   Options
	sink   progress.Sink
	ctx    *buildctx.Tree
	stages []*state
	trees  map[string]*buildctx.Tree
	steps  []StepResult
	n      int // numbers scratch files
}

// Build runs the Dockerfile of up over its context and records the
// result under opts.Tag. Progress goes to sink as lines: "[stage k/n]
// STEP i/m: INSTRUCTION", a RUN's output, then CACHED or the time taken.
func (b *Builder) Build(ctx context.Context, up *buildctx.Upload, opts Options, sink progress.Sink) (Result, error) {
	start := b.now()
	plan, err := dockerfile.Parse(bytes.NewReader(up.Dockerfile), dockerfile.Options{
		BuildArgs: opts.BuildArgs, Target: opts.Target, Platform: opts.Platform,
	})
	if err != nil {
		return Result{}, err
	}
	for _, u := range plan.Unused {
		sink.Message(fmt.Sprintf("[warning] --build-arg %s: no ARG in the Dockerfile declares it", u))
	}
	r := &build{Builder: b, plan: plan, opts: opts, sink: sink, ctx: up.Context, trees: map[string]*buildctx.Tree{}}
	for i := range plan.Stages {
		st, err := r.stage(ctx, i)
		if err != nil {
			return Result{}, err
		}
		r.stages = append(r.stages, st)
	}
	final := r.stages[len(r.stages)-1]
	digest, err := final.img.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("build: the image's digest: %w", err)
	}
	rec, err := b.Images.Find(opts.Tag)
	switch {
	case err == nil && rec.Digest == digest.String():
		sink.Message(fmt.Sprintf("%s is up to date", rec.Name))
	case err == nil || errors.Is(err, errdefs.ErrNotFound):
		if rec, err = b.Images.Store(ctx, opts.Tag, final.img, sink); err != nil {
			return Result{}, fmt.Errorf("record %s: %w", opts.Tag, err)
		}
	default:
		return Result{}, err
	}
	return Result{Name: rec.Name, ID: rec.ID, Digest: rec.Digest, Steps: r.steps, Seconds: b.now().Sub(start).Seconds()}, nil
}

// stage builds plan stage i.
func (r *build) stage(ctx context.Context, i int) (*state, error) {
	st := r.plan.Stages[i]
	total := len(st.Steps) + 1
	r.sink.Message(fmt.Sprintf("[stage %d/%d] STEP 1/%d: %s", i+1, len(r.plan.Stages), total, st.Source))
	s, err := r.base(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("dockerfile line %d: %s: %w", st.Line, st.Source, err)
	}
	for j, raw := range st.Steps {
		r.sink.Message(fmt.Sprintf("[stage %d/%d] STEP %d/%d: %s", i+1, len(r.plan.Stages), j+2, total, raw.Source))
		t0 := r.now()
		step, err := raw.Expand(expansionEnv(s))
		if err != nil {
			return nil, err
		}
		cached, err := r.step(ctx, s, step)
		if err != nil {
			return nil, fmt.Errorf("dockerfile line %d: %s: %w", raw.Line, raw.Source, err)
		}
		d := r.now().Sub(t0)
		r.steps = append(r.steps, StepResult{Stage: i + 1, Step: j + 2, Instruction: raw.Source, Cached: cached, Seconds: d.Seconds()})
		if cached {
			r.sink.Message(" CACHED")
		} else {
			r.sink.Message(fmt.Sprintf(" done in %s", d.Round(time.Millisecond)))
		}
	}
	return s, nil
}

// base starts a stage from its FROM.
func (r *build) base(ctx context.Context, st dockerfile.Stage) (*state, error) {
	switch st.Base.Kind {
	case dockerfile.BaseStage:
		prev := r.stages[st.Base.Stage]
		return &state{img: prev.img, key: prev.key, boot: prev.boot}, nil
	case dockerfile.BaseScratch:
		img, err := scratch(r.opts.Platform)
		if err != nil {
			return nil, err
		}
		return &state{img: img, key: chain("scratch", r.opts.Platform)}, nil
	}
	img, rec, err := r.Images.Base(ctx, st.Base.Image, r.sink)
	if err != nil {
		return nil, err
	}
	d, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("%s: digest: %w", st.Base.Image, err)
	}
	return &state{img: img, key: d.String(), boot: rec}, nil
}

// scratch is the empty image for the platform.
func scratch(platform string) (v1.Image, error) {
	cf, err := empty.Image.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = splitPlatform(platform)
	return mutate.ConfigFile(empty.Image, cf)
}

// step runs one expanded step and says whether it was a cache hit.
func (r *build) step(ctx context.Context, s *state, step dockerfile.Step) (bool, error) {
	switch step.Kind {
	case dockerfile.Run:
		return r.run(ctx, s, step)
	case dockerfile.Copy, dockerfile.Add:
		return r.copy(ctx, s, step)
	case dockerfile.Arg:
		for _, p := range step.Pairs {
			var def *string
			if p.HasValue {
				def = &p.Value
			}
			if v, ok := r.plan.Arg(p.Key, def); ok {
				s.args = setEnv(s.args, p.Key, v)
			}
		}
		// ARG changes no image; later RUNs key on its values.
		return r.seen(chain(s.key, step.Key(), strings.Join(s.args, "\n"))), nil
	}
	if err := r.metadata(s, step); err != nil {
		return false, err
	}
	s.key = chain(s.key, step.Key())
	return r.seen(s.key), nil
}
