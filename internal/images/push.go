package images

import (
	"cmp"
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/progress"
)

// Push sends image ref (see Find) to the registry reference dest names
// ("" means the image's own name), with the daemon's registry settings:
// credentials from the docker config file, plain HTTP only to loopback
// and image.insecure_registries. The manifest goes as it was kept, so the
// pushed digest is the image's Digest. Each layer reports its upload to
// sink.
func (s *Service) Push(ctx context.Context, ref, dest string, sink progress.Sink) (imagepull.PushResult, error) {
	return s.PushWith(ctx, ref, dest, PushOptions{}, sink)
}

// PushOptions tune PushWith.
type PushOptions struct {
	// Keychain supplies the registry credentials; nil means the daemon's.
	Keychain authn.Keychain
}

// PushWith is Push with opts' credentials.
func (s *Service) PushWith(ctx context.Context, ref, dest string, opts PushOptions, sink progress.Sink) (imagepull.PushResult, error) {
	img, err := s.Find(ref)
	if err != nil {
		return imagepull.PushResult{}, fmt.Errorf("push: %w", err)
	}
	// A prune meanwhile keeps the image and the blobs being sent (one
	// that came between Find and here makes OCI say not found).
	defer s.hold(append(blobKeys(img.Layers), imageKey(img.Name))...)()
	oci, err := s.OCI(img.ID)
	if err != nil {
		return imagepull.PushResult{}, fmt.Errorf("push: %w", err)
	}
	dest = cmp.Or(dest, img.Name)
	reg := s.registry("")
	reg.Keychain = opts.Keychain
	res, err := imagepull.Push(ctx, oci, dest, reg, sink.Progress)
	if err != nil {
		return res, fmt.Errorf("push %s to %s: %w", imagepull.FamiliarName(img.Name), dest, err)
	}
	s.log.Info("image pushed", "name", img.Name, "reference", res.Reference, "digest", res.Digest, "uploaded", res.Uploaded)
	s.events.Publish(events.Event{Type: events.TypeImage, Action: events.Push, ID: img.ID, Name: img.Name,
		Attributes: map[string]string{"digest": res.Digest, "reference": res.Reference}})
	return res, nil
}
