package dockerapi

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/system"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/internal/volumes"
)

// writeFile writes n bytes of data (so they are allocated) at dir/name.
func writeFile(t *testing.T, dir, name string, n int) string {
	t.Helper()
	p := filepath.Join(dir, name)
	b := make([]byte, n) // ones: zeros may be stored sparse
	for i := range b {
		b[i] = 1
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSystemDF: df's numbers are the files' allocated space — images'
// ext4 files (a tag sharing a file counted once), containers' writable
// disks, volumes' ext4 files, the build cache's dry-run prune — in the
// lists Debian's CLI reads before API 1.52 and the per-type totals
// after.
func TestSystemDF(t *testing.T) {
	dir := t.TempDir()
	alpine := writeFile(t, dir, "alpine.ext4", 64<<10)
	if err := os.Link(alpine, filepath.Join(dir, "tag.ext4")); err != nil {
		t.Fatal(err)
	}
	debian := writeFile(t, dir, "debian.ext4", 128<<10)
	cacheImg := writeFile(t, dir, "cache.ext4", 32<<10)
	disk := writeFile(t, dir, "vm.disk", 16<<10)
	e := newOpsEnv(t,
		vms.VM{ID: "abc000000001", Name: "web", State: vms.Running, ImageID: "i1", Runtime: vms.Summary{DiskPath: disk}},
		vms.VM{ID: "abc000000002", Name: "new", State: vms.Created, ImageID: "i1"})
	e.imgs = []images.Image{
		{ID: "i1", Name: "alpine:latest", Rootfs: alpine},
		{ID: "i2", Name: "mine:latest", Rootfs: filepath.Join(dir, "tag.ext4")},
		{ID: "i3", Name: "debian:bookworm", Rootfs: debian},
		{ID: "c1", Name: "banger-build-cache/x", Rootfs: cacheImg},
	}
	e.cache = fakeCache{rep: images.PruneReport{Images: []images.Image{e.imgs[3]}, BytesFreed: 32<<10 + 8<<10}}
	e.catalog.infos["data"] = volumes.Info{Volume: volumes.Volume{Name: "data"}, AllocatedBytes: 4 << 10, UsedBy: []volumes.User{{Name: "web"}}}
	e.catalog.infos["old"] = volumes.Info{Volume: volumes.Volume{Name: "old"}, AllocatedBytes: 8 << 10}
	e.build(t)

	rec := do(e.s, "GET", "/v1.41/system/df", "")
	var legacy legacyDiskUsage
	if err := json.Unmarshal(rec.Body.Bytes(), &legacy); err != nil || rec.Code != 200 {
		t.Fatalf("df at 1.41: %d %s", rec.Code, rec.Body)
	}
	if legacy.LayersSize != 192<<10 || len(legacy.Images) != 3 || legacy.Images[0].Containers != 2 || legacy.Images[0].SharedSize != 64<<10 {
		t.Errorf("df images at 1.41: layers %d, %+v", legacy.LayersSize, legacy.Images)
	}
	if len(legacy.Containers) != 2 || legacy.Containers[0].SizeRw+legacy.Containers[1].SizeRw != 16<<10 {
		t.Errorf("df containers at 1.41: %+v", legacy.Containers)
	}
	if len(legacy.Volumes) != 2 || legacy.Volumes[0].UsageData == nil {
		t.Errorf("df volumes at 1.41: %+v", legacy.Volumes)
	}
	if len(legacy.BuildCache) != 2 || legacy.BuildCache[0].Size+legacy.BuildCache[1].Size != 40<<10 {
		t.Errorf("df build cache at 1.41: %+v", legacy.BuildCache)
	}

	rec = do(e.s, "GET", "/v1.53/system/df", "")
	var du system.DiskUsage
	if err := json.Unmarshal(rec.Body.Bytes(), &du); err != nil || rec.Code != 200 {
		t.Fatalf("df at 1.53: %d %s", rec.Code, rec.Body)
	}
	iu, cu, vu, bu := du.ImageUsage, du.ContainerUsage, du.VolumeUsage, du.BuildCacheUsage
	if iu.TotalCount != 3 || iu.ActiveCount != 1 || iu.TotalSize != 192<<10 || iu.Reclaimable != 128<<10 || iu.Items != nil {
		t.Errorf("image usage: %+v", iu)
	}
	if cu.TotalCount != 2 || cu.ActiveCount != 1 || cu.TotalSize != 16<<10 || cu.Reclaimable != 0 {
		t.Errorf("container usage: %+v", cu)
	}
	if vu.TotalCount != 2 || vu.ActiveCount != 1 || vu.TotalSize != 12<<10 || vu.Reclaimable != 8<<10 {
		t.Errorf("volume usage: %+v", vu)
	}
	if bu.TotalSize != 40<<10 || bu.Reclaimable != 40<<10 {
		t.Errorf("build cache usage: %+v", bu)
	}
	rec = do(e.s, "GET", "/v1.53/system/df?type=volume&verbose=1", "")
	du = system.DiskUsage{}
	_ = json.Unmarshal(rec.Body.Bytes(), &du)
	if du.ImageUsage != nil || du.VolumeUsage == nil || len(du.VolumeUsage.Items) != 2 {
		t.Errorf("df type=volume verbose: %s", rec.Body)
	}
}
