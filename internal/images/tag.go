package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Tag records image src (see Find) under a second name, NAME[:TAG], as
// docker tag does: the same digest, config and layers. Its files are
// hard links to src's — an image's files are never written after it is
// built — so a tag costs no space, and removing either name leaves the
// other whole. An image of that name is replaced unless a VM uses it;
// tagging an image with its own name changes nothing.
func (s *Service) Tag(ctx context.Context, src, name string) (Image, error) {
	name, err := imagepull.NormalizeTag(name)
	if err != nil {
		return Image{}, err
	}
	from, err := s.Find(src)
	if err != nil {
		return Image{}, fmt.Errorf("tag %s: %w", src, err)
	}
	if from.Name == name {
		return from, nil
	}
	defer s.lockName(name)()
	// Keep src's blobs while the tag is made: a prune meanwhile may
	// remove src, whose blobs the tag is about to name.
	defer s.hold(append(blobKeys(from.Layers), imageKey(name))...)()
	rec := from
	rec.ID, rec.Name = "", name
	return s.record(ctx, rec, events.Tag, func(out string) (*imagepull.Image, error) {
		// src's name is not locked (two names locked in either order
		// could deadlock against a tag the other way): a pull or rm of
		// src meanwhile removes its directory, and the link then fails.
		dir := s.layout.Image(from.ID)
		if err := linkOrCopy(from.Rootfs, out); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("tag %s as %s: %w: it was replaced or removed meanwhile; tag it again", imagepull.FamiliarName(from.Name), imagepull.FamiliarName(name), errdefs.ErrConflict)
		} else if err != nil {
			return nil, fmt.Errorf("tag %s as %s: %w", imagepull.FamiliarName(from.Name), imagepull.FamiliarName(name), err)
		}
		img := &imagepull.Image{
			Digest: from.Digest, Layers: from.Layers, Config: from.Config,
			SizeBytes: from.SizeBytes, ContentBytes: from.ContentBytes, Inodes: from.Inodes, Skipped: from.Skipped,
			AgentSHA256: from.AgentSHA256, HeldBoot: from.HeldBoot,
		}
		if s.hasKept(from) {
			if img.RawManifest, err = os.ReadFile(filepath.Join(dir, keptManifest)); err == nil {
				img.RawConfig, err = os.ReadFile(filepath.Join(dir, keptConfig))
			}
			if err != nil {
				return nil, fmt.Errorf("tag %s: %w", imagepull.FamiliarName(from.Name), err)
			}
		}
		return img, nil
	})
}

// linkOrCopy makes dst another name of src, or a copy (sparse, with
// shared extents where the file system can) where a hard link cannot be.
func linkOrCopy(src, dst string) error {
	err := os.Link(src, dst)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if err := fsutil.CopySparse(f, src); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
