package daemon

import (
	"net/http"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/pkg/api"
)

// snapshotRoutes registers the boot snapshots' API.
func (d *Daemon) snapshotRoutes(rt *api.Router) {
	api.Handle(rt, api.ListSnapshots, func(*http.Request, api.None) ([]api.Snapshot, error) {
		sns, err := d.snapshots.List()
		return wireSnapshots(sns, d.staleSnapshots()), err
	})
	api.Handle(rt, api.RemoveSnapshot, func(r *http.Request, _ api.None) (api.Snapshot, error) {
		sn, err := d.snapshots.Remove(r.PathValue("id"))
		if err != nil {
			return api.Snapshot{}, err
		}
		return wireSnapshot(sn, false), nil
	})
	api.Handle(rt, api.PruneSnapshots, func(_ *http.Request, req api.PruneSnapshotsRequest) ([]api.Snapshot, error) {
		stale := d.staleSnapshots()
		sns, err := d.snapshots.Prune(req.All, stale)
		return wireSnapshots(sns, stale), err
	})
}

// wireSnapshots are sns on the wire, each marked as stale says.
func wireSnapshots(sns []snapshots.Snapshot, stale func(snapshots.Key) bool) []api.Snapshot {
	out := make([]api.Snapshot, 0, len(sns))
	for _, sn := range sns {
		out = append(out, wireSnapshot(sn, stale(sn.Key)))
	}
	return out
}

// staleSnapshots answers whether a snapshot's key fits nothing in the
// catalogs as they are now. A catalog that cannot be read makes nothing
// stale: prune must never remove a snapshot on a guess.
func (d *Daemon) staleSnapshots() func(snapshots.Key) bool {
	imgs, ierr := d.images.List()
	kernels, kerr := d.kernels.List()
	if ierr != nil || kerr != nil {
		d.log.Warn("cannot read the catalogs: no snapshot is taken for stale", "images", ierr, "kernels", kerr)
		return func(snapshots.Key) bool { return false }
	}
	return staleIn(imgs, kernels, d.parts.clientKey)
}

// staleIn says a key is stale when no image has its digest with its
// agent, no kernel its digest, or it was saved for another client key
// than the daemon's (clientKey, a fingerprint): a start computes its key
// from those, so it can never find the snapshot again.
func staleIn(imgs []images.Image, kernels []kernelcat.Kernel, clientKey string) func(snapshots.Key) bool {
	type imageKey struct{ digest, agent string }
	haveImage := map[imageKey]bool{}
	for _, img := range imgs {
		haveImage[imageKey{img.Digest, img.AgentSHA256}] = true
	}
	haveKernel := map[string]bool{}
	for _, k := range kernels {
		haveKernel[k.VmlinuxSHA256] = true
	}
	return func(k snapshots.Key) bool {
		return !haveImage[imageKey{k.ImageDigest, k.AgentSHA256}] || !haveKernel[k.KernelSHA256] || k.Daemon != clientKey
	}
}

func wireSnapshot(sn snapshots.Snapshot, stale bool) api.Snapshot {
	k := sn.Key
	out := api.Snapshot{
		ID: sn.ID, Image: sn.Origin.Image, ImageDigest: k.ImageDigest, Kernel: sn.Origin.Kernel,
		KernelSHA256: k.KernelSHA256, AgentSHA256: k.AgentSHA256,
		Backend: k.Backend, Accel: k.Accel, Cmdline: k.Cmdline, CPUs: k.CPUs, MemoryMiB: k.MemoryMiB,
		MemoryFile: k.MemoryFile, DiskBytes: k.DiskBytes, Drives: []string{}, NICs: k.NICs,
		VM: sn.Origin.VM, Created: sn.Created, Path: sn.Dir, SizeBytes: sn.SizeBytes,
		Files: wireSnapshotFiles(sn.Files), Stale: stale,
	}
	for _, dr := range k.Drives {
		out.Drives = append(out.Drives, dr.ID)
	}
	return out
}

// wireSnapshotFiles are a snapshot's (or checkpoint's) files on the wire.
func wireSnapshotFiles(files []snapshots.File) []api.SnapshotFile {
	out := make([]api.SnapshotFile, 0, len(files))
	for _, f := range files {
		out = append(out, api.SnapshotFile(f))
	}
	return out
}

// snapshotObjects are the store's host objects as the inventory shows
// them.
func snapshotObjects(objs []snapshots.Object) []api.HostObject {
	out := make([]api.HostObject, 0, len(objs))
	for _, o := range objs {
		out = append(out, api.HostObject{Kind: o.Kind, Name: o.Name})
	}
	return out
}
