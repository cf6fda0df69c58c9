package images

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// The files kept beside an image's rootfs.ext4: its manifest and config
// file as they came, byte for byte, so OCI gives the image back with the
// digest it was recorded under. Its layers stay in the blob cache.
const (
	keptManifest = "manifest.json"
	keptConfig   = "config.json"
)

// StoreOptions tune Store.
type StoreOptions struct {
	// Source is what made the image: "load", "build", "commit" (default
	// "load"). It is the record's Source and the verb errors use.
	Source string
	// SizeBytes fixes the ext4 file's size; 0 sizes it to the content.
	SizeBytes int64
}

// Store records img — from an archive, an OCI layout, a mutate.Append
// result, a registry — under name (NAME[:TAG]) through the pull pipeline:
// its compressed layers go into the blob cache (each checked against its
// digest), it is flattened to a bootable ext4 with the guest agent, and its
// manifest and config are kept, so OCI(name) is img again, same digest. An
// image of that name is replaced unless a VM uses it; one already built
// from the same digest (and agent, and size) by the same Source is
// returned as is. sink must not be nil.
func (s *Service) Store(ctx context.Context, name string, img v1.Image, opts StoreOptions, sink progress.Sink) (Image, error) {
	source := cmp.Or(opts.Source, "load")
	name, err := imagepull.NormalizeTag(name)
	if err != nil {
		return Image{}, err
	}
	if err := checkSize(opts.SizeBytes); err != nil {
		return Image{}, fmt.Errorf("%s %s: %w", source, name, err)
	}
	defer s.lockName(name)()
	remote, err := imagepull.FromImage(name, img, s.cfg.Platform)
	if err != nil {
		return Image{}, fmt.Errorf("%s %s: %w", source, name, err)
	}
	defer s.holdRemote(name, remote)()
	popts, err := s.pipelineOptions(sink, opts.SizeBytes)
	if err != nil {
		return Image{}, fmt.Errorf("%s %s: %w", source, name, err)
	}
	if old, err := s.Find(name); err == nil && s.upToDate(old, source, remote, opts.SizeBytes, popts.Agent.Path) {
		sink.Message(fmt.Sprintf("%s is up to date (%s)", imagepull.FamiliarName(name), remote.Digest))
		return old, nil
	}
	if popts.Cache, err = s.blobCache(); err != nil {
		return Image{}, fmt.Errorf("%s %s: %w", source, name, err)
	}
	rec := Image{Name: name, Source: source, Platform: remote.Platform, PlatformAssumed: remote.PlatformAssumed}
	return s.build(ctx, rec, func(out string) (*imagepull.Image, error) {
		img, err := imagepull.Pull(ctx, remote, out, popts)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", source, name, err)
		}
		return img, nil
	})
}

// OCI returns image ref (see Find) as an OCI image: its kept manifest and
// config, byte for byte (so its digest is the record's Digest), and its
// layers read from the blob cache, each checked against its digest as it
// is read. An image imported from a root file system tarball has no
// manifest, and one recorded before banger kept them has none on disk:
// both are errdefs.ErrUnsupported errors saying what to do.
func (s *Service) OCI(ref string) (v1.Image, error) {
	img, err := s.Find(ref)
	if err != nil {
		return nil, err
	}
	familiar := imagepull.FamiliarName(img.Name)
	if img.Source == "import" {
		return nil, fmt.Errorf("image %s: %w: it was imported from a root file system tarball and has no OCI manifest or layers; push the tarball's contents from an image build, or pull the image from a registry", familiar, errdefs.ErrUnsupported)
	}
	manifest, err := os.ReadFile(filepath.Join(s.layout.Image(img.ID), keptManifest))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("image %s: %w: it was recorded before banger kept image manifests; pull it again (banger image pull %s)", familiar, errdefs.ErrUnsupported, familiar)
	}
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", familiar, err)
	}
	config, err := os.ReadFile(filepath.Join(s.layout.Image(img.ID), keptConfig))
	if err != nil {
		return nil, fmt.Errorf("image %s: kept config: %w", familiar, err)
	}
	cache, err := s.blobCache()
	if err != nil {
		return nil, err
	}
	oci, err := imagepull.RawImage(manifest, config, func(d v1.Descriptor) (io.ReadCloser, error) {
		rc, err := cache.Open(d.Digest.String(), d.Size)
		if errors.Is(err, errdefs.ErrNotFound) {
			return nil, fmt.Errorf("image %s: layer %s is missing from the blob cache: %w; %s", familiar, d.Digest, err, makeAgain(img))
		}
		return rc, err
	})
	if err != nil {
		return nil, fmt.Errorf("image %s: kept manifest: %w", familiar, err)
	}
	if d, err := oci.Digest(); err != nil || d.String() != img.Digest {
		return nil, fmt.Errorf("image %s: the kept manifest is %v, the record says %s: the image's files were changed; %s", familiar, d, img.Digest, makeAgain(img))
	}
	return oci, nil
}

// makeAgain says how to make img again when its files are damaged: with
// what made it (a built, loaded or committed image's name may be in no
// registry to pull it from).
func makeAgain(img Image) string {
	familiar := imagepull.FamiliarName(img.Name)
	switch img.Source {
	case "load":
		return "load its archive again (banger image load)"
	case "build":
		return fmt.Sprintf("build it again (banger image build -t %s)", familiar)
	case "commit":
		return fmt.Sprintf("commit its VM again (banger commit VM %s)", familiar)
	}
	return fmt.Sprintf("pull it again (banger image pull %s)", familiar)
}

// hasKept reports whether img's manifest and config are on disk.
func (s *Service) hasKept(img Image) bool {
	for _, f := range []string{keptManifest, keptConfig} {
		if _, err := os.Stat(filepath.Join(s.layout.Image(img.ID), f)); err != nil {
			return false
		}
	}
	return true
}

// writeKept writes a converted image's manifest and config into its build
// directory dir (an import has neither).
func writeKept(dir string, img *imagepull.Image) error {
	if img.RawManifest == nil {
		return nil
	}
	for f, b := range map[string][]byte{keptManifest: img.RawManifest, keptConfig: img.RawConfig} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			return fmt.Errorf("keep %s: %w", f, err)
		}
	}
	return nil
}
