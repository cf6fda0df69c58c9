package daemon

import (
	"context"
	"sort"

	"github.com/bangerdev/banger/internal/dockerapi"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/progress"
)

// dockerBuilder is the Engine API's /build over the daemon's build, the
// one `banger image build` runs.
type dockerBuilder struct{ d *Daemon }

func (b dockerBuilder) Build(ctx context.Context, req dockerapi.BuildRequest, sink progress.Sink) (images.Image, error) {
	q := api.BuildImageQuery{Tag: req.Tag, Target: req.Target, NoCache: req.NoCache}
	for k, v := range req.BuildArgs {
		q.BuildArgs = append(q.BuildArgs, k+"="+v)
	}
	sort.Strings(q.BuildArgs)
	res, err := b.d.build(ctx, q, req.Receive, sink)
	if err != nil {
		return images.Image{}, err
	}
	return b.d.images.Find(res.Image.ID)
}
