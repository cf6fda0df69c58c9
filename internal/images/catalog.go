package images

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// scratchPrefix names an image's build directory in layout.Tmp().
const scratchPrefix = "image-"

// minIDPrefix is the shortest id prefix Find matches, so a short name
// ("a") is never taken for an id.
const minIDPrefix = 4

// List returns every image, sorted by name.
func (s *Service) List() ([]Image, error) {
	imgs, err := store.ListAll[Image](s.store, store.Images)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Name < imgs[j].Name })
	return imgs, nil
}

// Find looks an image up by name (short or canonical: "debian:bookworm",
// "docker.io/library/debian:bookworm") or by id, or a unique prefix of at
// least four characters of one. Errors wrap errdefs.ErrNotFound, or
// ErrInvalid for a prefix several ids share.
func (s *Service) Find(ref string) (Image, error) {
	var found *Image
	err := s.store.View(func(tx *store.Tx) error {
		if name, err := imagepull.NormalizeName(ref); err == nil {
			var img Image
			if tx.Get(store.Images, name, &img) == nil {
				found = &img
				return nil
			}
		}
		if len(ref) < minIDPrefix {
			return nil
		}
		imgs, err := store.List[Image](tx, store.Images)
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
		return Image{}, err
	}
	if found == nil {
		return Image{}, fmt.Errorf("image %q: %w (see banger image ls)", ref, errdefs.ErrNotFound)
	}
	return *found, nil
}

// Remove deletes the image ref names (see Find) unless a VM uses it: the
// record first, so no record ever points at missing files.
func (s *Service) Remove(ref string) error {
	img, err := s.Find(ref)
	if err != nil {
		return err
	}
	defer s.lockName(img.Name)()
	err = s.store.Update(func(tx *store.Tx) error {
		// Read again under the lock: a pull may have replaced it.
		var cur Image
		if err := tx.Get(store.Images, img.Name, &cur); err != nil {
			return err
		}
		if vm := s.inUse(tx, cur); vm != "" {
			return errInUse(cur, vm)
		}
		img = cur
		return tx.Delete(store.Images, img.Name)
	})
	if err != nil {
		return err
	}
	s.removeFiles(img)
	s.log.Info("image removed", "name", img.Name, "id", img.ID)
	s.emit(events.Remove, img)
	return nil
}

// Reconcile removes what an interrupted build or removal left: image
// scratch directories, image directories no record names, and partial
// downloads in the blob cache. Call it before serving, while no build
// runs.
func (s *Service) Reconcile() error {
	leftovers, _ := filepath.Glob(filepath.Join(s.layout.Tmp(), scratchPrefix+"*"))
	blobs, err := blobcache.SweepIngest(s.layout.OCICache())
	if err != nil {
		return fmt.Errorf("reconcile images: %w", err)
	}
	for _, p := range blobs {
		s.log.Info("removed a partial download", "path", p)
	}
	imgs, err := store.ListAll[Image](s.store, store.Images)
	if err != nil {
		return fmt.Errorf("reconcile images: %w", err)
	}
	known := map[string]bool{}
	for _, img := range imgs {
		known[img.ID] = true
	}
	unlisted, err := fsutil.Unlisted(s.layout.Images(), known)
	if err != nil {
		return fmt.Errorf("reconcile images: %w", err)
	}
	leftovers = append(leftovers, unlisted...)
	for _, p := range leftovers {
		s.log.Info("removing image files no record names", "path", p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("reconcile images: %w", err)
		}
	}
	return nil
}

// removeFiles deletes an image's directory once its record is gone. A
// failure is only logged: Reconcile retries at the next start.
func (s *Service) removeFiles(img Image) {
	if err := os.RemoveAll(s.layout.Image(img.ID)); err != nil {
		s.log.Warn("cannot remove image files", "id", img.ID, "error", err)
	}
}

// checkUnused fails when a VM uses img, before a build spends time on a
// replacement it could not record.
func (s *Service) checkUnused(img Image) error {
	return s.store.View(func(tx *store.Tx) error {
		if vm := s.inUse(tx, img); vm != "" {
			return errInUse(img, vm)
		}
		return nil
	})
}

func errInUse(img Image, vm string) error {
	return fmt.Errorf("image %s: %w: VM %s uses it; remove the VM first (banger rm %s)", imagepull.FamiliarName(img.Name), errdefs.ErrConflict, vm, vm)
}

// emit reports action on img (a pull or an import recorded, a removal).
func (s *Service) emit(action events.Action, img Image) {
	s.events.Publish(events.Event{Type: events.TypeImage, Action: action, ID: img.ID, Name: img.Name,
		Attributes: map[string]string{"digest": img.Digest, "platform": img.Platform}})
}
