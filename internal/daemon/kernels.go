package daemon

import (
	"mime"
	"net/http"
	"strconv"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/kernels"
)

// kernelRoutes registers the kernel catalog's API.
func (d *Daemon) kernelRoutes(rt *api.Router) {
	rt.Stream("POST /v1/kernels/import", d.importKernel)
	rt.Stream("POST /v1/kernels/pull", d.pullKernel)
	rt.JSON("GET /v1/kernels", d.listKernels)
	rt.JSON("GET /v1/kernels/{name}", d.getKernel)
	rt.JSON("DELETE /v1/kernels/{name}", d.removeKernel)
}

// importKernel imports a path on the daemon's host (JSON body) or an
// uploaded file (any other content type; name and default in the query).
func (d *Daemon) importKernel(r *http.Request, ew *api.EventWriter) (any, error) {
	var (
		k   kernelcat.Kernel
		err error
	)
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/json" {
		var req api.KernelImportRequest
		if err := api.DecodeJSON(r, &req); err != nil {
			return nil, err
		}
		opts := kernels.ImportOptions{Name: req.Name, Default: req.Default, Config: req.Config, Modules: req.Modules}
		k, err = d.kernels.Import(r.Context(), req.Path, opts, ew)
	} else {
		q := r.URL.Query()
		makeDefault, _ := strconv.ParseBool(q.Get("default"))
		k, err = d.kernels.ImportUpload(r.Context(), r.Body, kernels.ImportOptions{Name: q.Get("name"), Default: makeDefault}, ew)
	}
	if err != nil {
		return nil, err
	}
	return wireKernel(k), nil
}

func (d *Daemon) pullKernel(r *http.Request, ew *api.EventWriter) (any, error) {
	var req api.KernelPullRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	k, err := d.kernels.Pull(r.Context(), req.Ref, kernels.PullOptions{Name: req.Name, Default: req.Default, SHA256: req.SHA256}, ew)
	if err != nil {
		return nil, err
	}
	return wireKernel(k), nil
}

func (d *Daemon) listKernels(*http.Request) (any, error) {
	ks, err := d.kernels.List()
	if err != nil {
		return nil, err
	}
	return wireList(ks, wireKernel), nil
}

func (d *Daemon) getKernel(r *http.Request) (any, error) {
	k, err := d.kernels.Get(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	return wireKernel(k), nil
}

func (d *Daemon) removeKernel(r *http.Request) (any, error) {
	return nil, d.kernels.Remove(r.PathValue("name"))
}
