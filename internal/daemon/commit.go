package daemon

import (
	"context"
	"net/http"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/commit"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/progress"
)

// commitRoutes registers `banger commit`.
func (d *Daemon) commitRoutes(rt *api.Router) {
	api.HandleStream(rt, api.CommitVM, func(r *http.Request, req api.CommitRequest, ew *api.EventWriter) (api.CommitResult, error) {
		c := commit.Committer{VMs: d.vms, Images: commitImages{d.images}, TmpDir: d.layout.Tmp()}
		res, err := c.Commit(r.Context(), r.PathValue("ref"), req.Name, commit.Options{Message: req.Message, Author: req.Author, Changes: req.Changes}, ew)
		if err != nil {
			return api.CommitResult{}, fsutil.NoSpace(err, d.layout.Tmp())
		}
		return api.CommitResult{
			Image: wireImage(res.Image), VM: res.VM, Parent: res.Parent.Name, ParentDigest: res.Parent.Digest,
			Layer: res.Layer, LayerBytes: res.LayerSize, Added: res.Stats.Added, Changed: res.Stats.Changed, Deleted: res.Stats.Deleted,
			FrozenMS: res.Frozen.Milliseconds(),
		}, nil
	})
}

// commitImages records commits through the image service's Store.
type commitImages struct{ s *images.Service }

func (c commitImages) OCI(ref string) (v1.Image, error) { return c.s.OCI(ref) }

func (c commitImages) StoreCommit(ctx context.Context, name string, img v1.Image, sink progress.Sink) (images.Image, error) {
	return c.s.Store(ctx, name, img, images.StoreOptions{Source: "commit"}, sink)
}
