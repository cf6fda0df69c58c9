package imagepull

import (
	"archive/tar"
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// Options configure Pull, Import and Convert.
type Options struct {
	// Cache is the blob cache pulls fetch into (Pull only).
	Cache *blobcache.Cache
	// TmpDir is scratch space for the flattener's spool.
	TmpDir string
	// MaxLayerBytes bounds what one layer (or tarball) may decompress to.
	MaxLayerBytes int64
	// HeadroomPercent and SizeBytes size the image (see BuildExt4).
	HeadroomPercent int
	SizeBytes       int64
	// Agent is injected into the image (see InjectGuestAgents).
	Agent Agent
	// Progress receives per-layer and conversion progress (may be nil).
	Progress progress.Reporter
	// Source names an imported tarball in errors and progress: the user's
	// file ("rootfs.tar.gz"), not the daemon's copy (Import only; default
	// "tarball").
	Source string
}

// Config is the part of an OCI image config a VM runs with. Image records
// store it as is, so its JSON names are part of the database format.
type Config struct {
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"working_dir,omitempty"`
	User       string   `json:"user,omitempty"`
	// StopSignal is what a stop sends the main process first (OCI
	// StopSignal, Dockerfile STOPSIGNAL); empty means SIGTERM.
	StopSignal string `json:"stop_signal,omitempty"`
	// Labels are the config's labels (filtered on by image ls --filter).
	Labels map[string]string `json:"labels,omitempty"`
	// ExposedPorts are the ports the image says it listens on
	// ("80/tcp"), sorted.
	ExposedPorts []string `json:"exposed_ports,omitempty"`
}

// Image describes a converted image.
type Image struct {
	// Digest is the manifest digest of a pull, the tarball's sha256 for an import.
	Digest string
	// Layers are the layer digests, oldest first (pulls only).
	Layers []string
	Config Config
	// SizeBytes is the ext4 file's size; ContentBytes what its files hold.
	SizeBytes, ContentBytes int64
	// Inodes in use.
	Inodes int64
	// Skipped counts device and fifo nodes left out.
	Skipped     int
	AgentSHA256 string
	// HeldBoot: see Injected.HeldBoot.
	HeldBoot bool
	// RawManifest and RawConfig are the source's manifest and config
	// bytes (pulls only; see Remote).
	RawManifest, RawConfig []byte
}

// Pull converts a resolved image to an ext4 image at out: it fetches the
// layers into the cache, then runs Convert over the cached blobs, each
// checked against its digest as it is read. When the conversion fails and
// a cached blob turns out corrupt, that blob is evicted, fetched again and
// the conversion retried once: the cache heals instead of serving it.
func Pull(ctx context.Context, r *Remote, out string, opts Options) (*Image, error) {
	for attempt := 0; ; attempt++ {
		if err := r.Fetch(ctx, opts.Cache, opts.Progress); err != nil {
			return nil, err
		}
		img, err := Convert(ctx, r.blobLayers(opts), out, opts)
		if err == nil {
			img.Digest, img.Config = r.Digest, r.Config
			img.RawManifest, img.RawConfig = r.RawManifest, r.RawConfig
			for _, l := range r.Layers {
				img.Layers = append(img.Layers, l.Digest.String())
			}
			return img, nil
		}
		if attempt > 0 || ctx.Err() != nil || !healCache(opts.Cache, r, opts.Progress) {
			return nil, err
		}
	}
}

// healCache verifies every cached layer of r, evicting corrupt ones, and
// reports whether it evicted any.
func healCache(cache *blobcache.Cache, r *Remote, report progress.Reporter) bool {
	healed := false
	for _, l := range r.Layers {
		d := l.Digest.String()
		if err := cache.Verify(d, l.Size); errors.Is(err, blobcache.ErrCorrupt) {
			report.Report(progress.Event{ID: short(d), Action: "evicted", Message: "corrupt in the cache; fetching it again"})
			healed = true
		}
	}
	return healed
}

// Import converts a root file system tarball (plain, gzip, zstd, xz or
// bzip2) read from r to an ext4 image at out, with the same hardening as a
// pull. The image's digest is the sha256 of the bytes read. size (0 if
// unknown) is the tarball's length, for progress. Data that is no tar
// archive, or whose decompression fails, is an ErrInvalid error naming
// opts.Source.
func Import(ctx context.Context, r io.Reader, size int64, out string, opts Options) (*Image, error) {
	source := cmp.Or(opts.Source, "tarball")
	br := bufio.NewReader(r)
	if _, err := br.Peek(1); errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s is empty", errdefs.ErrInvalid, source)
	}
	h := sha256.New()
	tee := &hashReader{r: br, h: h}
	opened := false
	layer := blobLayer(source, size, func() (io.ReadCloser, error) {
		if opened {
			return nil, errors.New("internal error: a tarball stream is read once")
		}
		opened = true
		return io.NopCloser(tee), nil
	}, opts.MaxLayerBytes, opts.Progress)
	img, err := Convert(ctx, []Layer{layer}, out, opts)
	if err != nil {
		return nil, err
	}
	img.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return img, nil
}

type hashReader struct {
	r io.Reader
	h hash.Hash
}

func (t *hashReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.h.Write(p[:n])
	return n, err
}

// Convert runs the pipeline's conversion stages over layers (oldest first)
// into an ext4 image at out: Flatten → ApplyOwnership (inside BuildExt4's
// sink) → InjectGuestAgents → BuildExt4's finishing. On error out does not
// exist.
func Convert(ctx context.Context, layers []Layer, out string, opts Options) (*Image, error) {
	var tree *Tree
	var inj *Injected
	ext4Opts := Ext4Options{SizeBytes: opts.SizeBytes, HeadroomPercent: opts.HeadroomPercent}
	info, err := BuildExt4(ctx, out, ext4Opts, func(sink Sink) error {
		var err error
		tree, err = Flatten(ctx, layers, sink, FlattenOptions{TmpDir: opts.TmpDir, MaxBytes: opts.MaxLayerBytes})
		if err != nil {
			return err
		}
		opts.Progress.Report(progress.Event{ID: "rootfs", Action: "convert", Message: fmt.Sprintf("%d files, %d directories", tree.Files, tree.Dirs)})
		inj, err = InjectGuestAgents(sink, tree, opts.Agent)
		return err
	})
	if err != nil {
		return nil, err
	}
	opts.Progress.Report(progress.Event{ID: "rootfs", Action: "done", Current: info.SizeBytes, Total: info.SizeBytes})
	return &Image{
		SizeBytes:    info.SizeBytes,
		ContentBytes: tree.Bytes,
		Inodes:       info.Inodes,
		Skipped:      tree.Skipped,
		AgentSHA256:  inj.AgentSHA256,
		HeldBoot:     inj.HeldBoot,
	}, nil
}

// WriteFlattened fetches r's layers into the cache and writes its
// flattened root file system to w as one tar stream: Pull and Flatten
// without an ext4, for consumers that unpack a part of an image (kernelcat
// takes /boot and /lib/modules of kernel images this way). Layers are
// verified as they are read; when one turns out corrupt it is evicted, so
// the next attempt fetches it again (the stream cannot be retried here:
// part of it may already be consumed).
func WriteFlattened(ctx context.Context, r *Remote, w io.Writer, opts Options) error {
	if err := r.Fetch(ctx, opts.Cache, opts.Progress); err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if _, err := Flatten(ctx, r.blobLayers(opts), tw, FlattenOptions{TmpDir: opts.TmpDir, MaxBytes: opts.MaxLayerBytes}); err != nil {
		healCache(opts.Cache, r, opts.Progress)
		return err
	}
	return tw.Close()
}

// blobLayers opens r's cached layers for Flatten.
func (r *Remote) blobLayers(opts Options) []Layer {
	layers := make([]Layer, len(r.Layers))
	for i, l := range r.Layers {
		d, size := l.Digest.String(), l.Size
		layers[i] = blobLayer(d, size, func() (io.ReadCloser, error) { return opts.Cache.Open(d, size) }, opts.MaxLayerBytes, opts.Progress)
	}
	return layers
}
