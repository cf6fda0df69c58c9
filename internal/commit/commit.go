package commit

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/layerdiff"
	"github.com/bangerdev/banger/internal/vms"
	"github.com/bangerdev/banger/pkg/progress"
)

// VMs is what a commit needs of the VM service (a *vms.Service).
type VMs interface {
	Get(ref string) (vms.VM, error)
	DiskCopy(ctx context.Context, ref, dst string) (vms.DiskInfo, error)
}

// Images is what a commit needs of the image service: the VM's image as
// an OCI image, and the recording of the new one (made by a commit).
type Images interface {
	OCI(ref string) (v1.Image, error)
	StoreCommit(ctx context.Context, name string, img v1.Image, sink progress.Sink) (images.Image, error)
}

// Differ writes the layer between two ext4 images (layerdiff.Diff).
type Differ func(ctx context.Context, lower, upper string, w io.Writer, opts layerdiff.Options) (layerdiff.Stats, error)

// Committer commits VMs.
type Committer struct {
	VMs    VMs
	Images Images
	// Diff is layerdiff.Diff when nil.
	Diff Differ
	// TmpDir holds each commit's temporary directory (the disk copy, the
	// layer); default os.TempDir(). It should be on the file system of
	// the VMs' disks, where the copy can be a reflink.
	TmpDir string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Options tune Commit.
type Options struct {
	// Message is the history entry's comment; Author its author.
	Message, Author string
	// Changes are --change instructions (ParseChange), applied in order.
	Changes []string
}

// Result is what Commit made.
type Result struct {
	Image images.Image
	// VM is the committed VM's name; Parent the image it was made from.
	VM     string
	Parent vms.Image
	// Layer is the new layer's compressed digest and size; Stats what
	// it holds.
	Layer     string
	LayerSize int64
	Stats     layerdiff.Stats
	// Running says the VM ran and was paused Frozen long for the copy.
	Running bool
	Frozen  time.Duration
}

// Commit records a new image name (NAME[:TAG]): VM vmRef's image with one
// more layer holding what changed on the VM's disk since it was made from
// it. See the package documentation for the steps.
func (c *Committer) Commit(ctx context.Context, vmRef, name string, opts Options, sink progress.Sink) (Result, error) {
	changes := make([]Change, 0, len(opts.Changes))
	for _, s := range opts.Changes {
		ch, err := ParseChange(s)
		if err != nil {
			return Result{}, err
		}
		changes = append(changes, ch)
	}
	if _, err := imagepull.NormalizeTag(name); err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vmRef, err)
	}
	vm, err := c.VMs.Get(vmRef)
	if err != nil {
		return Result{}, err
	}
	base, err := c.Images.OCI(vm.ImageID)
	if err != nil {
		return Result{}, fmt.Errorf("commit %s: its image: %w", vm.Name, err)
	}
	dir, err := os.MkdirTemp(c.TmpDir, ScratchPrefix)
	if err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vm.Name, err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	disk := filepath.Join(dir, "disk.raw")
	sink.Progress(progress.Event{ID: "disk", Action: "copy", Message: "copying the disk of " + vm.Name})
	info, err := c.VMs.DiskCopy(ctx, vm.ID, disk)
	if err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vm.Name, err)
	}
	if info.Image.ID != vm.ImageID {
		return Result{}, fmt.Errorf("commit %s: its image changed from %s to %s meanwhile; try again", vm.Name, vm.ImageID, info.Image.ID)
	}
	sink.Progress(progress.Event{ID: "disk", Action: "done"})
	res := Result{VM: vm.Name, Running: info.Running, Frozen: info.Frozen}

	sink.Progress(progress.Event{ID: "layer", Action: "diff", Message: "writing the layer of what changed"})
	layerPath := filepath.Join(dir, "layer.tar.gz")
	if res.Stats, err = c.writeLayer(ctx, info.Image.Rootfs, disk, layerPath, dir); err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vm.Name, err)
	}
	_ = os.Remove(disk) // the layer has what it needed; free the space before Store
	sink.Progress(progress.Event{ID: "layer", Action: "done"})

	img, layer, err := c.image(base, layerPath, vm.Name, opts, changes)
	if err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vm.Name, err)
	}
	d, err := layer.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vm.Name, err)
	}
	res.Layer = d.String()
	res.LayerSize, _ = layer.Size()
	if res.Image, err = c.Images.StoreCommit(ctx, name, img, sink); err != nil {
		return Result{}, fmt.Errorf("commit %s: %w", vm.Name, err)
	}
	res.Parent = info.Image
	return res, nil
}

// writeLayer writes the gzipped diff of upper against lower to path.
func (c *Committer) writeLayer(ctx context.Context, lower, upper, path, tmp string) (st layerdiff.Stats, err error) {
	diff := c.Diff
	if diff == nil {
		diff = layerdiff.Diff
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return st, err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := gzip.NewWriter(bw)
	if st, err = diff(ctx, lower, upper, zw, layerdiff.Options{TmpDir: tmp}); err != nil {
		return st, err
	}
	if err := zw.Close(); err != nil {
		return st, fmt.Errorf("layer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("layer: %w", err)
	}
	return st, nil
}

// image is base with the layer at path appended (its media type following
// base's manifest: OCI or Docker), a history entry, the changes applied
// to its config and its creation time now.
func (c *Committer) image(base v1.Image, path, vmName string, opts Options, changes []Change) (v1.Image, v1.Layer, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, nil, err
	}
	layerType := types.DockerLayer
	if mt == types.OCIManifestSchema1 {
		layerType = types.OCILayer
	}
	tl, err := tarball.LayerFromFile(path, tarball.WithMediaType(layerType))
	if err != nil {
		return nil, nil, fmt.Errorf("layer: %w", err)
	}
	layer := plainLayer{tl}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	created := v1.Time{Time: now().UTC().Truncate(time.Second)}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: created, CreatedBy: "banger commit " + vmName, Comment: opts.Message, Author: opts.Author,
	}})
	if err != nil {
		return nil, nil, fmt.Errorf("append the layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	cf = cf.DeepCopy()
	Apply(&cf.Config, changes)
	if opts.Author != "" {
		cf.Author = opts.Author
	}
	cf.Created = created
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, nil, err
	}
	return img, layer, nil
}

// plainLayer hides the tarball layer's Descriptor, whose empty (not nil)
// annotations map would make the in-memory manifest differ from its own
// JSON (validate.Image says so); the descriptor is then made from the
// layer's digest, size and media type.
type plainLayer struct{ v1.Layer }

// ScratchPrefix starts the name of a commit's scratch directory in its
// TmpDir; a daemon removes what a crashed one left there.
const ScratchPrefix = "banger-commit-"
