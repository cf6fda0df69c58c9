package daemon

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/bangerdev/banger/internal/imagebuild"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// registerImageRoutes adds the image API to rt.
func (d *Daemon) registerImageRoutes(rt *api.Router) {
	api.HandleStream(rt, api.PullImage, func(r *http.Request, req api.PullRequest, ew *api.EventWriter) (api.Image, error) {
		return wireImageOf(d.images.Pull(r.Context(), req.Reference, images.PullOptions{Platform: req.Platform, SizeBytes: req.SizeBytes}, ew))
	})
	// The tarball is the body; the name and an optional size are in the
	// query.
	api.HandleStream(rt, api.ImportImage, func(r *http.Request, q api.ImageImportQuery, ew *api.EventWriter) (api.Image, error) {
		if q.Name == "" {
			return api.Image{}, fmt.Errorf("%w: import needs ?name=NAME[:TAG]", errdefs.ErrInvalid)
		}
		return wireImageOf(d.images.Import(r.Context(), q.Name, r.Body, r.ContentLength, images.ImportOptions{SizeBytes: q.Size, Source: q.Source}, ew))
	})
	api.Handle(rt, api.ListImages, func(*http.Request, api.None) ([]api.Image, error) {
		imgs, err := d.images.List()
		// A build's cache entries are its own; image ls shows the user's.
		imgs = slices.DeleteFunc(imgs, func(img images.Image) bool { return imagebuild.IsCache(img.Name) })
		return wireList(imgs, wireImage), err
	})
	d.registerBuildRoute(rt)
	api.Handle(rt, api.GetImage, func(r *http.Request, _ api.None) (api.Image, error) {
		return wireImageOf(d.images.Find(r.PathValue("name")))
	})
	api.Handle(rt, api.RemoveImage, func(r *http.Request, _ api.None) (api.None, error) {
		return api.None{}, d.images.Remove(r.PathValue("name"))
	})
}

func wireImageOf(img images.Image, err error) (api.Image, error) {
	if err != nil {
		return api.Image{}, err
	}
	return wireImage(img), nil
}
