package kernels

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/fsutil"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// ImportOptions tune Import and ImportUpload.
type ImportOptions struct {
	// Name of the entry; "" names it after the kernel release.
	Name string
	// Default makes the kernel the default one.
	Default bool
	// Config and Modules are absolute paths on the daemon's host of a bare
	// kernel file's config and lib/modules/<release> directory, when they
	// are not next to it.
	Config, Modules string
	// Source is the client's name for an uploaded file: errors and the
	// record name it, not the daemon's copy.
	Source string
}

// PullOptions tune Pull.
type PullOptions struct {
	// Name of the entry; "" takes the catalog entry's, the URL's file or
	// the image's last path element.
	Name string
	// Default makes the kernel the default one.
	Default bool
	// SHA256 verifies a URL download (catalog entries carry their own).
	SHA256 string
}

// Import installs the kernel at path on the daemon's host: a vmlinux, a
// bzImage, a .deb, a tarball or a directory (see kernelcat.Import). The
// name must be free. sink must not be nil.
func (s *Service) Import(ctx context.Context, path string, opts ImportOptions, sink progress.Sink) (kernelcat.Kernel, error) {
	if path == "" {
		return kernelcat.Kernel{}, fmt.Errorf("%w: kernel import needs the path of a kernel file, package or directory", errdefs.ErrInvalid)
	}
	if err := absolute(path, opts.Config, opts.Modules); err != nil {
		return kernelcat.Kernel{}, err
	}
	kopts, release := s.options(opts.Name, opts.Default, sink)
	defer release()
	kopts.Config, kopts.Modules, kopts.Label = opts.Config, opts.Modules, opts.Source
	k, err := kernelcat.Import(ctx, path, "", kopts)
	return k, fsutil.NoSpace(err, s.layout.Tmp())
}

// ImportUpload is Import for a kernel file sent by a client: it is stored
// in the scratch directory (bounded by Options.MaxBytes), imported and
// deleted.
func (s *Service) ImportUpload(ctx context.Context, body io.Reader, opts ImportOptions, sink progress.Sink) (kernelcat.Kernel, error) {
	if err := absolute(opts.Config, opts.Modules); err != nil {
		return kernelcat.Kernel{}, err
	}
	up, err := s.receive(body)
	if err != nil {
		return kernelcat.Kernel{}, err
	}
	defer func() { _ = os.Remove(up) }()
	cpUploadReceived.Hit()
	return s.Import(ctx, up, opts, sink)
}

// Pull fetches ref — a catalog entry ("debian-cloud"), an http(s) URL
// with opts.SHA256, or an OCI image reference — and installs it (see
// kernelcat.Pull). sink must not be nil.
func (s *Service) Pull(ctx context.Context, ref string, opts PullOptions, sink progress.Sink) (kernelcat.Kernel, error) {
	kopts, release := s.options(opts.Name, opts.Default, sink)
	defer release()
	k, err := kernelcat.Pull(ctx, ref, "", kernelcat.PullOptions{
		Options:   kopts,
		SHA256:    opts.SHA256,
		Downloads: s.layout.KernelDownloads(),
		OCI:       s.oci,
	})
	return k, fsutil.NoSpace(err, s.layout.Tmp())
}

// absolute refuses relative paths: the daemon does not share the
// client's working directory.
func absolute(paths ...string) error {
	for _, p := range paths {
		if p != "" && !filepath.IsAbs(p) {
			return fmt.Errorf("%w: path %q: the daemon needs absolute paths on its host", errdefs.ErrInvalid, p)
		}
	}
	return nil
}

// receive stores an uploaded kernel file in the scratch directory.
func (s *Service) receive(body io.Reader) (string, error) {
	f, err := os.CreateTemp(s.layout.Tmp(), "kernel-upload-")
	if err != nil {
		return "", fmt.Errorf("receive kernel upload: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(body, s.maxBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		err = fsutil.NoSpace(fmt.Errorf("receive kernel upload: %w", err), f.Name())
	case n > s.maxBytes:
		err = fmt.Errorf("%w: kernel upload larger than image.max_layer_bytes (%d)", errdefs.ErrInvalid, s.maxBytes)
	case n == 0:
		err = fmt.Errorf("%w: empty kernel upload", errdefs.ErrInvalid)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}

// options wires an install to the layout, the store and sink. Call
// release when the install has returned: it frees the name reserved.
func (s *Service) options(name string, makeDefault bool, sink progress.Sink) (kernelcat.Options, func()) {
	var reserved string // set by reserve, under s.mu
	release := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if reserved != "" {
			delete(s.busy, reserved)
		}
	}
	return kernelcat.Options{
		Name:     name,
		Agent:    s.agentPath(),
		Tmp:      s.layout.Tmp(),
		MaxBytes: s.maxBytes,
		Progress: sink.Progress,
		Message:  sink.Message,
		DestFor:  func(name string) (string, error) { return s.reserve(name, &reserved) },
		Commit:   func(k *kernelcat.Kernel) error { return s.commit(k, makeDefault) },
	}, release
}

// reserve claims name for an install: no record may hold it and no other
// install may be building it. A directory left without a record (a daemon
// that died between rename and commit) is removed.
func (s *Service) reserve(name string, claimed *string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy[name] {
		return "", fmt.Errorf("%w: kernel %q is being imported right now", errdefs.ErrConflict, name)
	}
	var exists bool
	_ = s.store.View(func(tx *store.Tx) error { exists = tx.Has(store.Kernels, name); return nil })
	if exists {
		return "", fmt.Errorf("%w: kernel %q already exists: pick another --name, or `banger kernel rm %s` first", errdefs.ErrExists, name, name)
	}
	dir := s.layout.Kernel(name)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove stale kernel dir %s: %w", dir, err)
	}
	s.busy[name] = true
	*claimed = name
	return dir, nil
}

// commit records an installed kernel. It becomes the default when asked,
// or when it is the first kernel and the config names none.
func (s *Service) commit(k *kernelcat.Kernel, makeDefault bool) error {
	err := s.store.Update(func(tx *store.Tx) error {
		all, err := store.List[kernelcat.Kernel](tx, store.Kernels)
		if err != nil {
			return err
		}
		k.Default = makeDefault || (len(all) == 0 && s.def == "")
		if k.Default {
			for _, o := range all {
				if o.Default {
					o.Default = false
					if err := tx.Put(store.Kernels, o.Name, o); err != nil {
						return err
					}
				}
			}
		}
		return tx.Create(store.Kernels, k.Name, k)
	})
	if err != nil {
		return fmt.Errorf("record kernel %s: %w", k.Name, err)
	}
	cpRecorded.Hit()
	s.log.Info("kernel ready", "name", k.Name, "version", k.Version, "default", k.Default)
	action := events.Import
	if strings.HasPrefix(k.Source, "pull") {
		action = events.Pull
	}
	s.emit(action, k.Name, k.Version)
	return nil
}
