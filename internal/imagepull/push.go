package imagepull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// PushResult says what Push did.
type PushResult struct {
	// Reference is the canonical reference pushed to.
	Reference string
	// Digest is the manifest's digest.
	Digest string
	// Layers counts the image's layers; Uploaded those the registry did
	// not have.
	Layers, Uploaded int
}

// Push sends img to ref (a tag or digest reference) with opts's
// credentials and HTTP policy, as Resolve reaches registries. Each layer
// reports its upload under its short digest ("exists" when the registry
// had it already); the manifest is pushed as img's raw bytes, so the
// registry's digest is img's.
func Push(ctx context.Context, img v1.Image, ref string, opts RegistryOptions, report progress.Reporter) (PushResult, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return PushResult{}, fmt.Errorf("%w: image reference %q: %w", errdefs.ErrInvalid, ref, err)
	}
	if allowHTTP(parsed.Context().RegistryStr(), opts.Insecure) {
		parsed, _ = name.ParseReference(ref, name.Insecure)
	}
	digest, err := img.Digest()
	if err != nil {
		return PushResult{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return PushResult{}, err
	}
	res := PushResult{Reference: canonical(parsed), Digest: digest.String(), Layers: len(m.Layers)}
	w := &pushWatch{report: report, sent: map[v1.Hash]bool{}}
	plat := v1.Platform{OS: "linux", Architecture: "amd64"}
	if err := remote.Write(parsed, &watchedImage{Image: img, w: w}, remoteOptions(ctx, opts, plat)...); err != nil {
		return PushResult{}, pushError(parsed.Context().RegistryStr(), err)
	}
	for _, l := range m.Layers {
		if w.uploaded(l.Digest) {
			res.Uploaded++
			continue
		}
		report.Report(progress.Event{ID: short(l.Digest.String()), Action: "exists", Current: l.Size, Total: l.Size})
	}
	return res, nil
}

// pushError is registryError, with what to do about a refusal.
func pushError(registry string, err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("%w: %s refused the upload (%d): log in with docker login %s as the user the daemon runs as (root's ~/.docker/config.json), or check the account may push to this repository: %w",
			errdefs.ErrInvalid, registry, te.StatusCode, registry, err)
	}
	return registryError(err)
}

// pushWatch remembers which layers were read to be uploaded.
type pushWatch struct {
	report progress.Reporter
	mu     sync.Mutex
	sent   map[v1.Hash]bool
}

func (w *pushWatch) uploaded(h v1.Hash) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sent[h]
}

// watchedImage is an image whose layers report their upload.
type watchedImage struct {
	v1.Image
	w *pushWatch
}

func (i *watchedImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = &watchedLayer{Layer: l, w: i.w}
	}
	return out, nil
}

func (i *watchedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return &watchedLayer{Layer: l, w: i.w}, nil
}

type watchedLayer struct {
	v1.Layer
	w *pushWatch
}

func (l *watchedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	d, _ := l.Digest()
	size, _ := l.Size()
	l.w.mu.Lock()
	l.w.sent[d] = true
	l.w.mu.Unlock()
	return &pushReader{Closer: rc, progressReader: progressReader{r: rc, id: short(d.String()), total: size, report: l.w.report, action: "push", doneMessage: "pushed"}}, nil
}

// pushReader reports a layer's bytes sent and, once, its end.
type pushReader struct {
	io.Closer
	progressReader
	finished bool
}

func (p *pushReader) Read(b []byte) (int, error) {
	n, err := p.progressReader.Read(b)
	if errors.Is(err, io.EOF) && !p.finished {
		p.finished = true
		p.finish()
	}
	return n, err
}
