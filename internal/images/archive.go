package images

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagearchive"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Save resolves refs (see Find) to the images an archive of them holds,
// each under its canonical name, after checking every layer is in the
// blob cache: what can fail before the archive's first byte fails here.
// imagearchive.Write writes them; call release once it has (a prune
// keeps the images and their blobs until then). On error release is a
// no-op.
func (s *Service) Save(refs []string) (_ []imagearchive.Entry, release func(), err error) {
	var releases []func()
	release = func() {
		for _, r := range releases {
			r()
		}
	}
	defer func() {
		if err != nil {
			release()
			release = func() {}
		}
	}()
	if len(refs) == 0 {
		return nil, release, fmt.Errorf("%w: save: name at least one image", errdefs.ErrInvalid)
	}
	cache, err := s.blobCache()
	if err != nil {
		return nil, release, err
	}
	var out []imagearchive.Entry
	for _, ref := range refs {
		img, err := s.Find(ref)
		if err != nil {
			return nil, release, fmt.Errorf("save: %w", err)
		}
		releases = append(releases, s.hold(append(blobKeys(img.Layers), imageKey(img.Name))...))
		oci, err := s.OCI(img.ID)
		if err != nil {
			return nil, release, fmt.Errorf("save: %w", err)
		}
		m, err := oci.Manifest()
		if err != nil {
			return nil, release, fmt.Errorf("save %s: %w", imagepull.FamiliarName(img.Name), err)
		}
		for _, l := range m.Layers {
			if !cache.Has(l.Digest.String(), l.Size) {
				return nil, release, fmt.Errorf("save %s: layer %s is missing from the blob cache: %w; %s", imagepull.FamiliarName(img.Name), l.Digest, errdefs.ErrNotFound, makeAgain(img))
			}
		}
		out = append(out, imagearchive.Entry{Name: img.Name, Image: oci})
	}
	return out, release, nil
}

// LoadOptions tune Load.
type LoadOptions struct {
	// Source names the archive in errors: the client's file name.
	Source string
}

// Load records every image of the archive read from r: an OCI image
// layout or a docker save tar, each image under the name the archive
// gives it. The archive is spooled to scratch space, read as data (never
// unpacked), and every image's layers are put in the blob cache — each
// checked against its digest — before any is recorded, so a hostile or
// broken archive records nothing (the blobs this load added are evicted
// again). A name given twice to one image is recorded once and tagged.
func (s *Service) Load(ctx context.Context, r io.Reader, opts LoadOptions, sink progress.Sink) ([]Image, error) {
	source := opts.Source
	if source == "" {
		source = "the archive"
	}
	spool, err := os.CreateTemp(s.layout.Tmp(), scratchPrefix+"load-")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", source, err)
	}
	defer func() { _ = spool.Close(); _ = os.Remove(spool.Name()) }()
	size, err := io.Copy(spool, r)
	if err != nil {
		return nil, fsutil.NoSpace(fmt.Errorf("load %s: receive: %w", source, err), s.layout.Tmp())
	}
	archive, err := imagearchive.Open(spool, size, source, int64(s.cfg.MaxLayerBytes))
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	entries, err := archive.Images(s.cfg.Platform)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	// The fetched blobs are leased until every image is recorded, so a
	// prune meanwhile keeps them.
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	if err := s.prefetch(ctx, entries, &releases, sink); err != nil {
		return nil, fmt.Errorf("load %s: %w", source, err)
	}
	var out, made []Image
	byDigest := map[string]Image{}
	for _, e := range entries {
		img, created, err := s.loadOne(ctx, e, byDigest, sink)
		if err != nil {
			// Take back the records this load made; an image it found up
			// to date was there before and stays. (A name it replaced does
			// not get its old image back: that one is gone.)
			for _, done := range made {
				_ = s.Remove(done.ID)
			}
			return nil, fmt.Errorf("load %s: %w", source, err)
		}
		if created {
			made = append(made, img)
		}
		out = append(out, img)
	}
	return out, nil
}

// loadOne records one entry of an archive: stored, or tagged when an
// earlier entry was the same image. created says the record is new (not
// an image found up to date).
func (s *Service) loadOne(ctx context.Context, e imagearchive.Entry, byDigest map[string]Image, sink progress.Sink) (Image, bool, error) {
	d, err := e.Image.Digest()
	if err != nil {
		return Image{}, false, err
	}
	var before string
	if name, err := imagepull.NormalizeTag(e.Name); err == nil {
		if old, err := s.Find(name); err == nil {
			before = old.ID
		}
	}
	var img Image
	if first, ok := byDigest[d.String()]; ok {
		img, err = s.Tag(ctx, first.ID, e.Name)
	} else {
		img, err = s.Store(ctx, e.Name, e.Image, StoreOptions{Source: "load"}, sink)
	}
	if err != nil {
		return Image{}, false, err
	}
	byDigest[d.String()] = img
	return img, img.ID != before, nil
}

// prefetch checks every entry as Store will (names, platform, layer media
// types) and puts every layer in the blob cache, leasing each entry's
// name and blobs first (their releases go to releases); on failure it
// evicts the blobs it added.
func (s *Service) prefetch(ctx context.Context, entries []imagearchive.Entry, releases *[]func(), sink progress.Sink) (err error) {
	cache, err := s.blobCache()
	if err != nil {
		return err
	}
	var added []string
	defer func() {
		if err != nil {
			for _, d := range added {
				_ = cache.Evict(d)
			}
		}
	}()
	for _, e := range entries {
		name, err := imagepull.NormalizeTag(e.Name)
		if err != nil {
			return err
		}
		if old, err := s.Find(name); err == nil {
			if err := s.checkUnused(old); err != nil {
				return err
			}
		}
		remote, err := imagepull.FromImage(name, e.Image, s.cfg.Platform)
		if err != nil {
			return fmt.Errorf("image %s: %w", imagepull.FamiliarName(name), err)
		}
		*releases = append(*releases, s.holdRemote(name, remote))
		for _, l := range remote.Layers {
			if !cache.Has(l.Digest.String(), l.Size) {
				added = append(added, l.Digest.String())
			}
		}
		if err := remote.Fetch(ctx, cache, sink.Progress); err != nil {
			return fmt.Errorf("image %s: %w", imagepull.FamiliarName(name), err)
		}
	}
	return nil
}
