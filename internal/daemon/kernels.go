package daemon

import (
	"net/http"

	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/kernels"
	"github.com/bangerdev/banger/pkg/api"
)

// kernelRoutes registers the kernel catalog's API.
func (d *Daemon) kernelRoutes(rt *api.Router) {
	api.HandleStream(rt, api.ImportKernel, func(r *http.Request, req api.KernelImportRequest, ew *api.EventWriter) (api.Kernel, error) {
		req, err := authorizeKernelImport(r, req)
		if err != nil {
			return api.Kernel{}, err
		}
		opts := kernels.ImportOptions{Name: req.Name, Default: req.Default, Config: req.Config, Modules: req.Modules}
		return wireKernelOf(d.kernels.Import(r.Context(), req.Path, opts, ew))
	})
	api.HandleStream(rt, api.UploadKernel, func(r *http.Request, q api.KernelUploadQuery, ew *api.EventWriter) (api.Kernel, error) {
		return wireKernelOf(d.kernels.ImportUpload(r.Context(), r.Body, kernels.ImportOptions{Name: q.Name, Default: q.Default, Source: q.Source}, ew))
	})
	api.HandleStream(rt, api.PullKernel, func(r *http.Request, req api.KernelPullRequest, ew *api.EventWriter) (api.Kernel, error) {
		return wireKernelOf(d.kernels.Pull(r.Context(), req.Ref, kernels.PullOptions{Name: req.Name, Default: req.Default, SHA256: req.SHA256}, ew))
	})
	api.Handle(rt, api.ListKernels, func(*http.Request, api.None) ([]api.Kernel, error) {
		ks, err := d.kernels.List()
		return wireList(ks, wireKernel), err
	})
	api.Handle(rt, api.GetKernel, func(r *http.Request, _ api.None) (api.Kernel, error) {
		return wireKernelOf(d.kernels.Get(r.PathValue("name")))
	})
	api.Handle(rt, api.RemoveKernel, func(r *http.Request, _ api.None) (api.None, error) {
		return api.None{}, d.kernels.Remove(r.PathValue("name"))
	})
}

func wireKernelOf(k kernelcat.Kernel, err error) (api.Kernel, error) {
	if err != nil {
		return api.Kernel{}, err
	}
	return wireKernel(k), nil
}
