package daemon

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/images"
)

// registerImageRoutes adds the image API to rt.
func (d *Daemon) registerImageRoutes(rt *api.Router) {
	rt.Stream("POST /v1/images/pull", d.pullImage)
	rt.Stream("POST /v1/images/import", d.importImage)
	rt.JSON("GET /v1/images", d.listImages)
	rt.JSON("GET /v1/images/{name...}", d.getImage)
	rt.JSON("DELETE /v1/images/{name...}", d.removeImage)
}

func (d *Daemon) pullImage(r *http.Request, ew *api.EventWriter) (any, error) {
	var req api.PullRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	img, err := d.images.Pull(r.Context(), req.Reference, images.PullOptions{Platform: req.Platform, SizeBytes: req.SizeBytes}, ew)
	if err != nil {
		return nil, err
	}
	return wireImage(img), nil
}

// importImage builds an image from the uploaded tarball in the body; the
// name and an optional size are in the query.
func (d *Daemon) importImage(r *http.Request, ew *api.EventWriter) (any, error) {
	q := r.URL.Query()
	if q.Get("name") == "" {
		return nil, fmt.Errorf("%w: import needs ?name=NAME[:TAG]", errdefs.ErrInvalid)
	}
	var opts images.ImportOptions
	if s := q.Get("size"); s != "" {
		size, err := strconv.ParseInt(s, 10, 64)
		if err != nil || size <= 0 {
			return nil, fmt.Errorf("%w: size %q: want a positive number of bytes", errdefs.ErrInvalid, s)
		}
		opts.SizeBytes = size
	}
	img, err := d.images.Import(r.Context(), q.Get("name"), r.Body, r.ContentLength, opts, ew)
	if err != nil {
		return nil, err
	}
	return wireImage(img), nil
}

func (d *Daemon) listImages(*http.Request) (any, error) {
	imgs, err := d.images.List()
	if err != nil {
		return nil, err
	}
	return wireList(imgs, wireImage), nil
}

func (d *Daemon) getImage(r *http.Request) (any, error) {
	img, err := d.images.Find(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return wireImage(img), nil
}

func (d *Daemon) removeImage(r *http.Request) (any, error) {
	return nil, d.images.Remove(r.PathValue("name"))
}
