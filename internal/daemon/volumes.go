package daemon

import (
	"net/http"

	"github.com/bangerdev/banger/internal/volumes"
	"github.com/bangerdev/banger/pkg/api"
)

// volumeRoutes registers the named volumes' API.
func (d *Daemon) volumeRoutes(rt *api.Router) {
	api.Handle(rt, api.CreateVolume, func(r *http.Request, req api.CreateVolumeRequest) (api.Volume, error) {
		v, err := d.volumes.Create(r.Context(), req.Name, req.SizeBytes)
		return volumeToAPI(volumes.Info{Volume: v}), err
	})
	api.Handle(rt, api.ListVolumes, func(*http.Request, api.None) ([]api.Volume, error) {
		vs, err := d.volumes.List()
		out := make([]api.Volume, 0, len(vs))
		for _, v := range vs {
			out = append(out, volumeToAPI(volumes.Info{Volume: v}))
		}
		return out, err
	})
	api.Handle(rt, api.GetVolume, func(r *http.Request, _ api.None) (api.Volume, error) {
		in, err := d.volumes.Inspect(r.PathValue("name"))
		return volumeToAPI(in), err
	})
	api.Handle(rt, api.RemoveVolume, func(r *http.Request, _ api.None) (api.None, error) {
		return api.None{}, d.volumes.Remove(r.PathValue("name"))
	})
}

func volumeToAPI(in volumes.Info) api.Volume {
	out := api.Volume{
		Name: in.Name, SizeBytes: in.SizeBytes, UUID: in.UUID, Created: in.Created, AttachedTo: in.AttachedTo,
		Path: in.Path, AllocatedBytes: in.AllocatedBytes,
	}
	for _, u := range in.UsedBy {
		out.UsedBy = append(out.UsedBy, u.Name)
	}
	return out
}

// volumeObjects are the volumes' host objects as the inventory shows
// them.
func volumeObjects(objs []volumes.Object) []api.HostObject {
	out := make([]api.HostObject, 0, len(objs))
	for _, o := range objs {
		out = append(out, api.HostObject{Kind: o.Kind, Name: o.Name, Owner: o.Owner})
	}
	return out
}

// gcObjects marks the orphans a catalog's gc found as removed, unless it
// was a dry run, or with the error that stopped it.
func gcObjects(objs []api.HostObject, dryRun bool, err error) []api.HostObject {
	for i := range objs {
		objs[i].Removed = !dryRun && err == nil
		if err != nil {
			objs[i].Error = err.Error()
		}
	}
	return objs
}
