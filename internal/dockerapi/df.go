package dockerapi

import (
	"net/http"
	"slices"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/api/types/volume"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
)

// legacyDiskUsage is /system/df's answer before API 1.52 (the lists
// Debian's docker CLI reads); the module keeps only the newer shape.
type legacyDiskUsage struct {
	LayersSize int64
	Images     []image.Summary
	Containers []container.Summary
	Volumes    []volume.Volume
	BuildCache []build.CacheRecord
}

// diskUsage is what df measured: every number is the host's disk space
// a file takes (its allocated blocks, so a sparse disk counts what it
// holds): an image's ext4 file (tags sharing one file count it once), a
// container's writable disk, a volume's ext4 file, the build cache's
// images, step files and blobs (a dry-run prune of it).
type diskUsage struct {
	layers     int64
	images     []image.Summary
	containers []container.Summary
	volumes    []volume.Volume
	cache      []build.CacheRecord
}

// diskUsageAnswer answers GET /system/df: the lists before 1.52, both
// shapes at 1.52, the per-type totals after (with their items when
// verbose), each type only when asked (type=, 1.42 on).
func (s *Server) diskUsageAnswer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	types := q["type"]
	want := func(t system.DiskUsageObject) bool { return len(types) == 0 || slices.Contains(types, string(t)) }
	du, err := s.measure(want)
	if err != nil {
		writeError(w, err)
		return
	}
	v := requestVersion(r)
	legacy := legacyDiskUsage{LayersSize: du.layers, Images: du.images, Containers: du.containers, Volumes: du.volumes, BuildCache: du.cache}
	if lessVersion(v, "1.52") {
		writeJSON(w, http.StatusOK, legacy)
		return
	}
	verbose := boolParam(q.Get("verbose"))
	out := system.DiskUsage{}
	if want(system.ImageObject) {
		out.ImageUsage = &image.DiskUsage{TotalCount: int64(len(du.images)), TotalSize: du.layers}
		for _, img := range du.images {
			if img.Containers > 0 {
				out.ImageUsage.ActiveCount++
			} else {
				out.ImageUsage.Reclaimable += img.Size - img.SharedSize
			}
		}
		if verbose {
			out.ImageUsage.Items = du.images
		}
	}
	if want(system.ContainerObject) {
		out.ContainerUsage = &container.DiskUsage{TotalCount: int64(len(du.containers))}
		for _, c := range du.containers {
			out.ContainerUsage.TotalSize += c.SizeRw
			if c.State == container.StateRunning || c.State == container.StatePaused {
				out.ContainerUsage.ActiveCount++
			} else {
				out.ContainerUsage.Reclaimable += c.SizeRw
			}
		}
		if verbose {
			out.ContainerUsage.Items = du.containers
		}
	}
	if want(system.VolumeObject) {
		out.VolumeUsage = &volume.DiskUsage{TotalCount: int64(len(du.volumes))}
		for _, vol := range du.volumes {
			out.VolumeUsage.TotalSize += vol.UsageData.Size
			if vol.UsageData.RefCount > 0 {
				out.VolumeUsage.ActiveCount++
			} else {
				out.VolumeUsage.Reclaimable += vol.UsageData.Size
			}
		}
		if verbose {
			out.VolumeUsage.Items = du.volumes
		}
	}
	if want(system.BuildCacheObject) {
		out.BuildCacheUsage = &build.DiskUsage{TotalCount: int64(len(du.cache))}
		for _, c := range du.cache {
			out.BuildCacheUsage.TotalSize += c.Size
			out.BuildCacheUsage.Reclaimable += c.Size
		}
		if verbose {
			out.BuildCacheUsage.Items = du.cache
		}
	}
	if lessVersion(v, "1.53") && !verbose {
		writeJSON(w, http.StatusOK, struct {
			legacyDiskUsage
			system.DiskUsage
		}{legacy, out})
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// measure reads the services' records and the files' allocation for
// the types want takes.
func (s *Server) measure(want func(system.DiskUsageObject) bool) (diskUsage, error) {
	var du diskUsage
	list, err := s.opts.VMs.List(true)
	if err != nil {
		return du, err
	}
	var cache images.PruneReport
	if want(system.BuildCacheObject) || want(system.ImageObject) {
		if cache, err = s.opts.Ops.Cache.Prune(images.PruneOptions{BuildCacheOnly: true, DryRun: true}); err != nil {
			return du, err
		}
	}
	if want(system.ImageObject) {
		if du.images, du.layers, err = s.imageUsage(list, cache); err != nil {
			return du, err
		}
	}
	if want(system.ContainerObject) {
		for _, vm := range list {
			du.containers = append(du.containers, containerUsage(vm, time.Now()))
		}
	}
	if want(system.VolumeObject) {
		infos, err := s.volumeInfos()
		if err != nil {
			return du, err
		}
		for _, in := range infos {
			v := toVolume(in)
			v.UsageData = &volume.UsageData{Size: in.AllocatedBytes, RefCount: int64(len(in.UsedBy))}
			du.volumes = append(du.volumes, v)
		}
	}
	if want(system.BuildCacheObject) {
		du.cache = cacheUsage(cache)
	}
	return du, nil
}

// imageUsage lists the images that are not build cache, each with its
// ext4 file's allocation and the containers that run it; a file several
// names share (a tag) is counted once in the total, and is shared.
func (s *Server) imageUsage(list []vms.VM, cache images.PruneReport) ([]image.Summary, int64, error) {
	imgs, err := s.opts.Images.List()
	if err != nil {
		return nil, 0, err
	}
	isCache := map[string]bool{}
	for _, c := range cache.Images {
		isCache[c.ID] = true
	}
	type fileID struct{ dev, ino uint64 }
	names := map[fileID]int{}
	sizes := make([]int64, len(imgs))
	ids := make([]fileID, len(imgs))
	for i, img := range imgs {
		var dev, ino uint64
		sizes[i], dev, ino = allocated(img.Rootfs)
		ids[i] = fileID{dev, ino}
		if ino != 0 {
			names[ids[i]]++
		}
	}
	var out []image.Summary
	var total int64
	counted := map[fileID]bool{}
	for i, img := range imgs {
		if isCache[img.ID] {
			continue
		}
		sum := image.Summary{ID: img.ID, RepoTags: []string{img.Name}, RepoDigests: []string{}, Created: img.Created.Unix(), Size: sizes[i], Labels: img.Config.Labels}
		if names[ids[i]] > 1 {
			sum.SharedSize = sizes[i]
		}
		for _, vm := range list {
			if vm.ImageID == img.ID {
				sum.Containers++
			}
		}
		if !counted[ids[i]] || ids[i].ino == 0 {
			counted[ids[i]] = true
			total += sizes[i]
		}
		out = append(out, sum)
	}
	return out, total, nil
}

// containerUsage is a VM as the container list shows it, with its
// writable disk's allocation (nothing before its first start).
func containerUsage(vm vms.VM, now time.Time) container.Summary {
	sum := summary(vm, commandLine(append(slices.Clone(vm.Spec.Entrypoint), vm.Spec.Cmd...)), now)
	sum.SizeRw, _, _ = allocated(vm.Runtime.DiskPath)
	return sum
}

// cacheUsage is the build cache as records: one per cache image, and the
// step files and blobs only it names as one more.
func cacheUsage(rep images.PruneReport) []build.CacheRecord {
	out := []build.CacheRecord{}
	var images int64
	for _, img := range rep.Images {
		size, _, _ := allocated(img.Rootfs)
		images += size
		out = append(out, build.CacheRecord{ID: img.ID, Type: "regular", Description: img.Name, Size: size, CreatedAt: img.Created})
	}
	if rest := rep.BytesFreed - images; rest > 0 {
		out = append(out, build.CacheRecord{ID: "steps-and-blobs", Type: "internal", Description: "build step files and the blobs only the cache names", Size: rest})
	}
	return out
}

// allocated is the disk space the file at p takes, and its identity;
// zeros when it does not exist.
func allocated(p string) (size int64, dev, ino uint64) {
	var st syscall.Stat_t
	if p == "" || syscall.Stat(p, &st) != nil {
		return 0, 0, 0
	}
	return st.Blocks * 512, st.Dev, st.Ino
}
