package images

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/units"
	"github.com/bangerdev/banger/internal/version"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// PullOptions tune Pull.
type PullOptions struct {
	// Platform overrides the config's image.platform ("linux/arm64").
	Platform string
	// SizeBytes fixes the ext4 file's size; 0 sizes it to the content.
	SizeBytes int64
	// Keychain supplies the registry credentials; nil means the daemon's
	// (imagepull.RegistryOptions.Keychain). The Engine API passes a
	// client's X-Registry-Auth through here.
	Keychain authn.Keychain
}

// ImportOptions tune Import.
type ImportOptions struct {
	// SizeBytes fixes the ext4 file's size; 0 sizes it to the content.
	SizeBytes int64
	// Source names the tarball in errors: the client's file name.
	Source string
}

// Pull fetches ref from its registry and records it under its canonical
// name, replacing an older image of that name unless a VM uses it. An
// image already built from the same digest, platform, size and agent is
// returned as is (sink is told it is up to date). sink must not be nil.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions, sink progress.Sink) (Image, error) {
	name, err := imagepull.NormalizeName(ref)
	if err != nil {
		return Image{}, err
	}
	if err := checkSize(opts.SizeBytes); err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", name, err)
	}
	defer s.lockName(name)()
	reg := s.registry(opts.Platform)
	reg.Keychain = opts.Keychain
	remote, err := imagepull.Resolve(ctx, ref, reg)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", name, err)
	}
	defer s.holdRemote(name, remote)()
	popts, err := s.pipelineOptions(sink, opts.SizeBytes)
	if err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", name, err)
	}
	if old, err := s.Find(name); err == nil && s.upToDate(old, "pull", remote, opts.SizeBytes, popts.Agent.Path) {
		sink.Message(fmt.Sprintf("%s is up to date (%s)", imagepull.FamiliarName(name), remote.Digest))
		return old, nil
	}
	if popts.Cache, err = s.blobCache(); err != nil {
		return Image{}, fmt.Errorf("pull %s: %w", name, err)
	}
	rec := Image{Name: name, Source: "pull", Platform: remote.Platform, PlatformAssumed: remote.PlatformAssumed}
	if remote.PlatformAssumed {
		sink.Message(fmt.Sprintf("%s: the image's config names no os/architecture; taking it as %s", imagepull.FamiliarName(name), remote.Platform))
	}
	return s.build(ctx, rec, func(out string) (*imagepull.Image, error) {
		img, err := imagepull.Pull(ctx, remote, out, popts)
		if err != nil {
			return nil, fmt.Errorf("pull %s: %w", name, err)
		}
		return img, nil
	})
}

// Import builds an image from a root file system tarball of length bytes
// (0 when unknown) read from tarball, and records it under name
// (NAME[:TAG]), replacing an older image of that name unless a VM uses
// it. sink must not be nil.
func (s *Service) Import(ctx context.Context, name string, tarball io.Reader, length int64, opts ImportOptions, sink progress.Sink) (Image, error) {
	name, err := imagepull.NormalizeTag(name)
	if err != nil {
		return Image{}, err
	}
	if err := checkSize(opts.SizeBytes); err != nil {
		return Image{}, fmt.Errorf("import %s: %w", name, err)
	}
	defer s.lockName(name)()
	popts, err := s.pipelineOptions(sink, opts.SizeBytes)
	if err != nil {
		return Image{}, fmt.Errorf("import %s: %w", name, err)
	}
	popts.Source = opts.Source
	return s.build(ctx, Image{Name: name, Source: "import"}, func(out string) (*imagepull.Image, error) {
		img, err := imagepull.Import(ctx, tarball, max(length, 0), out, popts)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", name, err)
		}
		return img, nil
	})
}

// Flatten writes the flattened root file system of image ref to w as one
// tar stream, through the catalog's blob cache and registry settings. It
// records nothing. It is kernelcat's OCI seam (kernelcat.PullOptions.OCI):
// with it, kernel pulls take kernels packaged in images.
func (s *Service) Flatten(ctx context.Context, ref string, w io.Writer) error {
	remote, err := imagepull.Resolve(ctx, ref, s.registry(""))
	if err != nil {
		return err
	}
	defer s.holdRemote("", remote)()
	cache, err := s.blobCache()
	if err != nil {
		return err
	}
	return imagepull.WriteFlattened(ctx, remote, w, imagepull.Options{
		Cache: cache, TmpDir: s.layout.Tmp(), MaxLayerBytes: int64(s.cfg.MaxLayerBytes),
	})
}

func (s *Service) registry(platform string) imagepull.RegistryOptions {
	return imagepull.RegistryOptions{Platform: cmp.Or(platform, s.cfg.Platform), Insecure: s.cfg.InsecureRegistries}
}

func checkSize(size int64) error {
	if size < 0 {
		return fmt.Errorf("%w: size %d: want a positive number of bytes, or 0 to fit the content", errdefs.ErrInvalid, size)
	}
	return nil
}

// pipelineOptions are the conversion settings from the config, with the
// guest agent located now (the file may change between pulls).
func (s *Service) pipelineOptions(sink progress.Sink, size int64) (imagepull.Options, error) {
	agent, err := s.agent()
	if err != nil {
		return imagepull.Options{}, err
	}
	return imagepull.Options{
		TmpDir:          s.layout.Tmp(),
		MaxLayerBytes:   int64(s.cfg.MaxLayerBytes),
		HeadroomPercent: s.cfg.HeadroomPercent,
		SizeBytes:       size,
		Agent:           imagepull.Agent{Path: agent, Version: version.String()},
		Progress:        sink.Progress,
	}, nil
}

// upToDate reports whether old already is what a pull (or a Store, from
// source) would build.
func (s *Service) upToDate(old Image, source string, r *imagepull.Remote, size int64, agent string) bool {
	if !s.hasKept(old) {
		return false
	}
	if old.Source != source || old.Digest != r.Digest || old.Platform != r.Platform || (size > 0 && size != old.SizeBytes) {
		return false
	}
	if agent == "" {
		return old.AgentSHA256 == ""
	}
	sum, err := fsutil.SHA256(agent)
	return err == nil && sum == old.AgentSHA256
}

// build runs convert (given the ext4 path to write) in a scratch
// directory, moves the result into place and records it under rec.Name,
// replacing (and deleting) an older image of that name unless a VM uses
// it. The caller holds rec.Name's lock. On failure nothing is left.
func (s *Service) build(ctx context.Context, rec Image, convert func(out string) (*imagepull.Image, error)) (Image, error) {
	return s.record(ctx, rec, "", convert)
}

// record is build, reporting action (default: rec.Source).
func (s *Service) record(ctx context.Context, rec Image, action events.Action, convert func(out string) (*imagepull.Image, error)) (Image, error) {
	old, err := s.Find(rec.Name)
	hasOld := err == nil
	if hasOld {
		if err := s.checkUnused(old); err != nil {
			return Image{}, err
		}
	}
	rec.ID = newID()
	tmp := filepath.Join(s.layout.Tmp(), scratchPrefix+rec.ID)
	if err := os.Mkdir(tmp, 0o711); err != nil {
		return Image{}, fsutil.NoSpace(fmt.Errorf("image %s: scratch dir: %w", rec.Name, err), tmp)
	}
	cpScratchMade.Hit()
	img, err := convert(filepath.Join(tmp, filepath.Base(s.layout.ImageRootfs(rec.ID))))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return Image{}, fsutil.NoSpace(err, tmp)
	}
	if err := writeKept(tmp, img); err != nil {
		_ = os.RemoveAll(tmp)
		return Image{}, fsutil.NoSpace(fmt.Errorf("image %s: %w", rec.Name, err), tmp)
	}
	cpConverted.Hit()
	rec.Digest, rec.Layers, rec.Config = img.Digest, img.Layers, img.Config
	rec.SizeBytes, rec.ContentBytes, rec.Inodes, rec.Skipped = img.SizeBytes, img.ContentBytes, img.Inodes, img.Skipped
	rec.AgentSHA256, rec.HeldBoot = img.AgentSHA256, img.HeldBoot
	if img.AgentSHA256 != "" && rec.AgentVersion == "" {
		rec.AgentVersion = version.String()
	}
	rec.Rootfs = s.layout.ImageRootfs(rec.ID)
	rec.Created = time.Now().UTC()
	if err := os.Rename(tmp, s.layout.Image(rec.ID)); err != nil {
		_ = os.RemoveAll(tmp)
		return Image{}, fmt.Errorf("image %s: move into place: %w", rec.Name, err)
	}
	cpRenamed.Hit()
	err = s.store.Update(func(tx *store.Tx) error {
		var prev Image
		if tx.Get(store.Images, rec.Name, &prev) == nil {
			if vm := s.inUse(tx, prev); vm != "" {
				return errInUse(prev, vm)
			}
		}
		return tx.Put(store.Images, rec.Name, rec)
	})
	if err != nil {
		_ = os.RemoveAll(s.layout.Image(rec.ID))
		return Image{}, err
	}
	cpRecorded.Hit()
	if hasOld && old.ID != rec.ID {
		s.removeFiles(old)
	}
	s.log.Info("image ready", "name", rec.Name, "id", rec.ID, "digest", rec.Digest, "size", units.FormatSize(rec.SizeBytes))
	s.emit(cmp.Or(action, events.Action(rec.Source)), rec)
	return rec, nil
}
