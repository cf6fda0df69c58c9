package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/version"
)

// imageService is the image catalog: records in store.Images keyed by
// canonical name, each image's files in layout.Image(id). An image is built
// in layout.Tmp() and renamed into place before its record is written, so
// a failure leaves neither; reconcileImages sweeps what a crash between the
// two leaves. Work on one name is serialized, so concurrent pulls of one
// image are safe (the second finds the first's result up to date).
type imageService struct {
	mu    sync.Mutex
	names map[string]*sync.Mutex
	cache *blobcache.Cache
}

// registerImageRoutes adds the image API to rt.
func (d *Daemon) registerImageRoutes(rt *api.Router) {
	rt.Stream(api.PullImage, d.pullImage)
	rt.Stream(api.ImportImage, d.importImage)
	rt.JSON(api.ListImages, d.listImages)
	rt.JSON(api.GetImage, d.getImage)
	rt.JSON(api.RemoveImage, d.removeImage)
}

// lockName serializes work on one image name.
func (s *imageService) lockName(name string) func() {
	s.mu.Lock()
	if s.names == nil {
		s.names = map[string]*sync.Mutex{}
	}
	m := s.names[name]
	if m == nil {
		m = &sync.Mutex{}
		s.names[name] = m
	}
	s.mu.Unlock()
	m.Lock()
	return m.Unlock
}

func (d *Daemon) blobCache() (*blobcache.Cache, error) {
	d.images.mu.Lock()
	defer d.images.mu.Unlock()
	if d.images.cache == nil {
		c, err := blobcache.Open(d.layout.OCICache())
		if err != nil {
			return nil, err
		}
		d.images.cache = c
	}
	return d.images.cache, nil
}

// pipelineOptions are the conversion settings from the config, with the
// guest agent located now (the file may change between pulls).
func (d *Daemon) pipelineOptions(ew *api.EventWriter, size int64) (imagepull.Options, error) {
	agent, err := d.agentBinary()
	if err != nil {
		return imagepull.Options{}, err
	}
	return imagepull.Options{
		TmpDir:          d.layout.Tmp(),
		MaxLayerBytes:   int64(d.cfg.Image.MaxLayerBytes),
		HeadroomPercent: d.cfg.Image.HeadroomPercent,
		SizeBytes:       size,
		Agent:           imagepull.Agent{Path: agent, Version: version.String()},
		Progress:        ew.Progress,
	}, nil
}

func (d *Daemon) pullImage(r *http.Request, ew *api.EventWriter) (any, error) {
	var req api.PullRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	name, err := imagepull.NormalizeName(req.Reference)
	if err != nil {
		return nil, err
	}
	defer d.images.lockName(name)()
	ctx := r.Context()
	remote, err := imagepull.Resolve(ctx, req.Reference, imagepull.RegistryOptions{
		Platform: cmp.Or(req.Platform, d.cfg.Image.Platform),
		Insecure: d.cfg.Image.InsecureRegistries,
	})
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	opts, err := d.pipelineOptions(ew, req.SizeBytes)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", name, err)
	}
	old, err := d.findImage(name)
	if err == nil && upToDate(old, remote, req.SizeBytes, opts.Agent.Path) {
		ew.Message(fmt.Sprintf("%s is up to date (%s)", imagepull.FamiliarName(name), remote.Digest))
		return old, nil
	}
	if opts.Cache, err = d.blobCache(); err != nil {
		return nil, err
	}
	rec := &api.Image{Name: name, Source: "pull", Platform: remote.Platform}
	return d.buildImage(ctx, rec, func(out string) (*imagepull.Image, error) {
		img, err := imagepull.Pull(ctx, remote, out, opts)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", name, err)
		}
		return img, nil
	})
}

// FlattenImage writes the flattened root file system of image ref to w as
// one tar stream, through the daemon's blob cache and registry settings.
// It is kernelcat's OCI seam: set kernelcat.PullOptions.OCI to it and
// `banger kernel pull` takes kernels from images.
func (d *Daemon) FlattenImage(ctx context.Context, ref string, w io.Writer) error {
	remote, err := imagepull.Resolve(ctx, ref, imagepull.RegistryOptions{
		Platform: d.cfg.Image.Platform,
		Insecure: d.cfg.Image.InsecureRegistries,
	})
	if err != nil {
		return err
	}
	cache, err := d.blobCache()
	if err != nil {
		return err
	}
	return imagepull.WriteFlattened(ctx, remote, w, imagepull.Options{
		Cache: cache, TmpDir: d.layout.Tmp(), MaxLayerBytes: int64(d.cfg.Image.MaxLayerBytes),
	})
}

// upToDate reports whether old already is what a pull would build.
func upToDate(old *api.Image, r *imagepull.Remote, size int64, agent string) bool {
	if old.Source != "pull" || old.Digest != r.Digest || old.Platform != r.Platform || (size > 0 && size != old.SizeBytes) {
		return false
	}
	if agent == "" {
		return old.AgentSHA256 == ""
	}
	sum, err := fsutil.SHA256(agent)
	return err == nil && sum == old.AgentSHA256
}

func (d *Daemon) importImage(r *http.Request, ew *api.EventWriter) (any, error) {
	q := r.URL.Query()
	if q.Get("name") == "" {
		return nil, fmt.Errorf("%w: import needs ?name=NAME[:TAG]", errdefs.ErrInvalid)
	}
	name, err := imagepull.NormalizeTag(q.Get("name"))
	if err != nil {
		return nil, err
	}
	var size int64
	if s := q.Get("size"); s != "" {
		if size, err = strconv.ParseInt(s, 10, 64); err != nil || size <= 0 {
			return nil, fmt.Errorf("%w: size %q: want a positive number of bytes", errdefs.ErrInvalid, s)
		}
	}
	defer d.images.lockName(name)()
	opts, err := d.pipelineOptions(ew, size)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	rec := &api.Image{Name: name, Source: "import"}
	return d.buildImage(r.Context(), rec, func(out string) (*imagepull.Image, error) {
		img, err := imagepull.Import(r.Context(), r.Body, max(r.ContentLength, 0), out, opts)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", name, err)
		}
		return img, nil
	})
}

// buildImage builds an image with build (given the ext4 path to write) in
// a scratch directory, then moves it into place and records it under
// rec.Name, replacing (and deleting) an older image of that name unless a
// VM uses it. On failure nothing is left.
func (d *Daemon) buildImage(ctx context.Context, rec *api.Image, build func(out string) (*imagepull.Image, error)) (*api.Image, error) {
	old, err := d.findImage(rec.Name)
	if err == nil {
		if err := d.checkUnused(old); err != nil {
			return nil, err
		}
	}
	rec.ID = newImageID()
	tmp := filepath.Join(d.layout.Tmp(), "image-"+rec.ID)
	if err := os.Mkdir(tmp, 0o711); err != nil {
		return nil, fmt.Errorf("image scratch dir: %w", err)
	}
	img, err := build(filepath.Join(tmp, filepath.Base(d.layout.ImageRootfs(rec.ID))))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	rec.Digest, rec.Layers, rec.Config = img.Digest, img.Layers, img.Config
	rec.SizeBytes, rec.ContentBytes, rec.Inodes, rec.Skipped = img.SizeBytes, img.ContentBytes, img.Inodes, img.Skipped
	rec.AgentSHA256 = img.AgentSHA256
	if img.AgentSHA256 != "" {
		rec.AgentVersion = version.String()
	}
	rec.Rootfs = d.layout.ImageRootfs(rec.ID)
	rec.Created = time.Now().UTC()
	if err := os.Rename(tmp, d.layout.Image(rec.ID)); err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("move image into place: %w", err)
	}
	err = d.store.Update(func(tx *store.Tx) error {
		var prev api.Image
		if tx.Get(store.Images, rec.Name, &prev) == nil {
			if vm := imageUser(tx, &prev); vm != "" {
				return inUse(&prev, vm)
			}
		}
		return tx.Put(store.Images, rec.Name, rec)
	})
	if err != nil {
		_ = os.RemoveAll(d.layout.Image(rec.ID))
		return nil, err
	}
	if old != nil && old.ID != rec.ID {
		d.removeImageFiles(old)
	}
	d.log.Info("image ready", "name", rec.Name, "id", rec.ID, "digest", rec.Digest, "size", units.FormatSize(rec.SizeBytes))
	return rec, nil
}

func newImageID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (d *Daemon) listImages(*http.Request) (any, error) {
	imgs, err := store.ListAll[api.Image](d.store, store.Images)
	if err != nil {
		return nil, err
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	if imgs == nil {
		imgs = []api.Image{}
	}
	return imgs, nil
}

func (d *Daemon) getImage(r *http.Request) (any, error) {
	return d.findImage(r.PathValue("name"))
}

// findImage looks an image up by name (short or canonical) or by id (or a
// unique prefix of at least four characters of one).
func (d *Daemon) findImage(ref string) (*api.Image, error) {
	var found *api.Image
	err := d.store.View(func(tx *store.Tx) error {
		if name, err := imagepull.NormalizeName(ref); err == nil {
			var img api.Image
			if tx.Get(store.Images, name, &img) == nil {
				found = &img
				return nil
			}
		}
		if len(ref) < 4 {
			return nil
		}
		imgs, err := store.List[api.Image](tx, store.Images)
		for i := range imgs {
			if strings.HasPrefix(imgs[i].ID, ref) {
				if found != nil {
					return fmt.Errorf("%w: %q matches several image ids; give more of it", errdefs.ErrInvalid, ref)
				}
				found = &imgs[i]
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("image %q: %w (see banger image ls)", ref, errdefs.ErrNotFound)
	}
	return found, nil
}

func (d *Daemon) removeImage(r *http.Request) (any, error) {
	img, err := d.findImage(r.PathValue("name"))
	if err != nil {
		return nil, err
	}
	defer d.images.lockName(img.Name)()
	err = d.store.Update(func(tx *store.Tx) error {
		var cur api.Image
		if err := tx.Get(store.Images, img.Name, &cur); err != nil {
			return err
		}
		if vm := imageUser(tx, &cur); vm != "" {
			return inUse(&cur, vm)
		}
		*img = cur
		return tx.Delete(store.Images, img.Name)
	})
	if err != nil {
		return nil, err
	}
	d.removeImageFiles(img)
	d.log.Info("image removed", "name", img.Name, "id", img.ID)
	return nil, nil
}

func (d *Daemon) removeImageFiles(img *api.Image) {
	if err := os.RemoveAll(d.layout.Image(img.ID)); err != nil {
		d.log.Warn("cannot remove image files", "id", img.ID, "error", err)
	}
}

func (d *Daemon) checkUnused(img *api.Image) error {
	return d.store.View(func(tx *store.Tx) error {
		if vm := imageUser(tx, img); vm != "" {
			return inUse(img, vm)
		}
		return nil
	})
}

// imageUser returns the name of a VM whose record references img, by id or
// by the image name in its spec, or "".
func imageUser(tx *store.Tx, img *api.Image) string {
	vms, _ := store.List[api.VM](tx, store.VMs)
	for _, vm := range vms {
		name, _ := imagepull.NormalizeName(vm.Spec.Image)
		if vm.ImageID == img.ID || (vm.Spec.Image != "" && name == img.Name) {
			return cmp.Or(vm.Name, vm.ID)
		}
	}
	return ""
}

func inUse(img *api.Image, vm string) error {
	return fmt.Errorf("image %s: %w: VM %s uses it; remove the VM first (banger rm %s)", imagepull.FamiliarName(img.Name), errdefs.ErrConflict, vm, vm)
}

// reconcileImages removes what an interrupted build or removal left: image
// scratch directories, and image directories no record names.
func (d *Daemon) reconcileImages() error {
	leftovers, _ := filepath.Glob(filepath.Join(d.layout.Tmp(), "image-*"))
	imgs, err := store.ListAll[api.Image](d.store, store.Images)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, img := range imgs {
		known[img.ID] = true
	}
	entries, err := os.ReadDir(d.layout.Images())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if !known[e.Name()] {
			leftovers = append(leftovers, d.layout.Image(e.Name()))
		}
	}
	for _, p := range leftovers {
		d.log.Info("removing image files no record names", "path", p)
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	return nil
}
