package daemon

import (
	"net/http"

	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/api"
)

// checkpointRoutes registers the checkpoints' API.
func (d *Daemon) checkpointRoutes(rt *api.Router) {
	api.Handle(rt, api.CheckpointVM, func(r *http.Request, req api.CheckpointRequest) (api.Checkpoint, error) {
		ck, err := d.vms.Checkpoint(r.Context(), r.PathValue("ref"), req.Name)
		if err != nil {
			return api.Checkpoint{}, err
		}
		return wireCheckpoint(ck), nil
	})
	api.Handle(rt, api.ListCheckpoints, func(*http.Request, api.None) ([]api.Checkpoint, error) {
		cks, err := d.vms.ListCheckpoints()
		out := make([]api.Checkpoint, 0, len(cks))
		for _, ck := range cks {
			out = append(out, wireCheckpoint(ck))
		}
		return out, err
	})
	api.Handle(rt, api.RemoveCheckpoint, func(r *http.Request, _ api.None) (api.Checkpoint, error) {
		ck, err := d.vms.RemoveCheckpoint(r.PathValue("id"))
		if err != nil {
			return api.Checkpoint{}, err
		}
		return wireCheckpoint(ck), nil
	})
}

func wireCheckpoint(ck vms.Checkpoint) api.Checkpoint {
	k := ck.Key
	return api.Checkpoint{
		ID: ck.ID, Name: ck.Name, VM: ck.Origin.VM, VMName: ck.VMName, Image: ck.Origin.Image, Kernel: ck.Origin.Kernel,
		Backend: k.Backend, CPUs: k.CPUs, MemoryMiB: k.MemoryMiB, MemoryFile: k.MemoryFile,
		Created: ck.Created, Path: ck.Dir, SizeBytes: ck.SizeBytes,
		Files:    wireSnapshotFiles(ck.Files),
		FrozenMS: float64(ck.Frozen.Microseconds()) / 1000,
	}
}
