package images

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// PruneOptions say what Prune removes.
type PruneOptions struct {
	// All also removes every image no VM uses (docker image prune -a);
	// without it a named image is never removed.
	All bool
	// BuildCacheOnly removes only the build cache — its images, its step
	// files and the blobs only those images named (docker builder prune) —
	// and keeps blobs no image named before.
	BuildCacheOnly bool
	// DryRun reports what would go and removes nothing.
	DryRun bool
}

// PruneReport is what Prune removed (or, on a dry run, would remove).
type PruneReport struct {
	// Images are the image records removed, sorted by name.
	Images []Image
	// Blobs are the digests of the blob cache files removed, sorted.
	Blobs []string
	// StepFiles counts the build's step files removed.
	StepFiles int
	// BytesFreed is the disk space given back: blocks no other file
	// shares (a tag's hard-linked ext4 frees nothing while another name
	// keeps it).
	BytesFreed int64
	// Notes say what was kept that the options would have removed, and why.
	Notes []string
}

// Prune removes what no VM needs, as docker image prune and builder prune
// together: by default the build cache (images IsBuildCache names and the
// step files under the layout's BuildCache) and every blob in the blob
// cache that no remaining image's record or kept manifest names. An image
// a VM uses is kept, and so is whatever a pull, load, store or build in
// flight holds (see leases): Prune decides and deletes under the lease
// lock, so no blob is lost between its fetch and its image's record.
func (s *Service) Prune(opts PruneOptions) (PruneReport, error) {
	if opts.All && opts.BuildCacheOnly {
		return PruneReport{}, fmt.Errorf("%w: prune: --all and --build-cache exclude each other", errdefs.ErrInvalid)
	}
	// The removed images' directories go after the lease lock is
	// released (deferred first, so run last): no lease names a
	// directory, and removing a large ext4 should not hold up pulls.
	var removed []Image
	defer func() {
		for _, img := range removed {
			s.removeFiles(img)
			s.log.Info("image pruned", "name", img.Name, "id", img.ID)
			s.emit(events.Remove, img)
		}
	}()
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	var rep PruneReport
	var kept []Image
	pick := func(tx *store.Tx) error {
		rep.Images, kept = nil, nil
		imgs, err := store.List[Image](tx, store.Images)
		if err != nil {
			return err
		}
		for _, img := range imgs {
			if !s.prunable(tx, img, opts) {
				kept = append(kept, img)
				continue
			}
			if !opts.DryRun {
				if err := tx.Delete(store.Images, img.Name); err != nil {
					return err
				}
			}
			rep.Images = append(rep.Images, img)
		}
		return nil
	}
	var err error
	if opts.DryRun {
		err = s.store.View(pick)
	} else {
		err = s.store.Update(pick)
	}
	if err != nil {
		return PruneReport{}, fmt.Errorf("prune images: %w", err)
	}
	if !opts.DryRun {
		removed = rep.Images
	}
	sort.Slice(rep.Images, func(i, j int) bool { return rep.Images[i].Name < rep.Images[j].Name })
	var dirs []string
	for _, img := range rep.Images {
		dirs = append(dirs, s.layout.Image(img.ID))
	}
	rep.BytesFreed = freedBytes(dirs)

	blobs, err := s.unreferencedBlobs(kept, rep.Images, opts.BuildCacheOnly)
	if err != nil {
		return PruneReport{}, fmt.Errorf("prune blobs: %w", err)
	}
	steps, note := s.stepFiles()
	if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	for _, p := range append(blobs, steps...) {
		rep.BytesFreed += allocated(p)
	}
	for _, p := range blobs {
		rep.Blobs = append(rep.Blobs, "sha256:"+filepath.Base(p))
	}
	rep.StepFiles = len(steps)
	if opts.DryRun {
		return rep, nil
	}
	var errs []error
	for _, p := range append(blobs, steps...) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	return rep, nil
}

// prunable reports whether opts remove img: a build cache entry (or any
// image, with All) that no VM uses and no lease holds.
func (s *Service) prunable(tx *store.Tx, img Image, opts PruneOptions) bool {
	if !opts.All && !s.isBuildCache(img.Name) {
		return false
	}
	return !s.leased(imageKey(img.Name)) && s.inUse(tx, img) == ""
}

// unreferencedBlobs lists the blob files to remove: those no image of
// kept names and no lease holds — of them, with buildOnly, only the blobs
// an image of removed named.
func (s *Service) unreferencedBlobs(kept, removed []Image, buildOnly bool) ([]string, error) {
	dir := filepath.Join(s.layout.OCICache(), "blobs", "sha256")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{}
	for _, img := range kept {
		for _, d := range s.blobsOf(img) {
			keep[d] = true
		}
	}
	var only map[string]bool
	if buildOnly {
		only = map[string]bool{}
		for _, img := range removed {
			for _, d := range s.blobsOf(img) {
				only[d] = true
			}
		}
	}
	var out []string
	for _, e := range entries {
		d := "sha256:" + e.Name()
		if !e.Type().IsRegular() || keep[d] || s.leased(blobKey(d)) || (only != nil && !only[d]) {
			continue
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	slices.Sort(out)
	return out, nil
}

// blobsOf lists the blobs img names: its record's layers and those of its
// kept manifest (the same, unless the files were changed: keep both).
func (s *Service) blobsOf(img Image) []string {
	out := slices.Clone(img.Layers)
	b, err := os.ReadFile(filepath.Join(s.layout.Image(img.ID), keptManifest))
	if err != nil {
		return out
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return out
	}
	out = append(out, m.Config.Digest.String())
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// stepFiles lists the build cache's step files, unless a build runs (its
// steps may be reading them): then it says so in a note instead.
func (s *Service) stepFiles() ([]string, string) {
	files, _ := filepath.Glob(filepath.Join(s.layout.BuildCache(), "*"))
	if len(files) == 0 {
		return nil, ""
	}
	if s.leases.builds > 0 {
		return nil, fmt.Sprintf("kept %d build step files: a build is running; prune again after it", len(files))
	}
	return files, ""
}
