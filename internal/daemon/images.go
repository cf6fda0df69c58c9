package daemon

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/bangerdev/banger/internal/imagearchive"
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
	api.Handle(rt, api.TagImage, func(r *http.Request, req api.TagImageRequest) (api.Image, error) {
		return wireImageOf(d.images.Tag(r.Context(), req.Source, req.Name))
	})
	api.HandleStream(rt, api.LoadImages, func(r *http.Request, q api.LoadImagesQuery, ew *api.EventWriter) ([]api.Image, error) {
		imgs, err := d.images.Load(r.Context(), r.Body, images.LoadOptions{Source: q.Source}, ew)
		return wireList(imgs, wireImage), err
	})
	api.HandleStream(rt, api.PushImage, func(r *http.Request, req api.PushImageRequest, ew *api.EventWriter) (api.PushResult, error) {
		res, err := d.images.Push(r.Context(), req.Name, req.Reference, ew)
		return wirePushResult(res), err
	})
	api.Handle(rt, api.PruneImages, func(_ *http.Request, req api.PruneImagesRequest) (api.PruneImagesResult, error) {
		rep, err := d.images.Prune(images.PruneOptions{All: req.All, BuildCacheOnly: req.BuildCache, DryRun: req.DryRun})
		if err != nil {
			return api.PruneImagesResult{}, err
		}
		res := api.PruneImagesResult{
			Images: []api.Image{}, CacheImages: []string{}, Blobs: append([]string{}, rep.Blobs...), StepFiles: rep.StepFiles,
			BytesFreed: rep.BytesFreed, DryRun: req.DryRun, Notes: rep.Notes,
		}
		for _, img := range rep.Images {
			if imagebuild.IsCache(img.Name) {
				res.CacheImages = append(res.CacheImages, img.Name)
			} else {
				res.Images = append(res.Images, wireImage(img))
			}
		}
		return res, nil
	})
	rt.Raw(api.SaveImages, d.saveImages)
}

// saveImages streams an archive of the asked images. Everything that can
// be checked is checked before the first byte; a failure after it (a
// cached layer that no longer matches its digest) aborts the connection,
// so the client sees a broken stream, never a short archive.
func (d *Daemon) saveImages(w http.ResponseWriter, r *http.Request) {
	q, err := api.SaveImages.Decode(r)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	format, err := imagearchive.ParseFormat(q.Format)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	entries, release, err := d.images.Save(q.Names)
	if err != nil {
		api.WriteError(w, err)
		return
	}
	defer release()
	w.Header().Set("Content-Type", "application/x-tar")
	w.WriteHeader(http.StatusOK)
	if err := imagearchive.Write(w, entries, format); err != nil {
		d.log.Warn("image save failed mid-stream", "images", q.Names, "error", err)
		panic(http.ErrAbortHandler)
	}
}

func wireImageOf(img images.Image, err error) (api.Image, error) {
	if err != nil {
		return api.Image{}, err
	}
	return wireImage(img), nil
}
