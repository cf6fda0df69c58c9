package imagepull

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

// RegistryOptions say how to reach registries.
type RegistryOptions struct {
	// Platform to pull from a multi-platform image ("linux/amd64").
	Platform string
	// Insecure lists registries (host or host:port) that may be reached over
	// plain HTTP. Loopback registries always may; nothing else does.
	Insecure []string
	// Keychain supplies credentials; nil means the docker config file
	// (~/.docker/config.json) when present, else anonymous.
	Keychain authn.Keychain
	// Transport is the HTTP transport (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
}

// Remote is an image resolved in a registry: its manifest and config are
// known, its layers not yet fetched.
type Remote struct {
	// Name is the canonical reference ("docker.io/library/debian:bookworm").
	Name string
	// Digest is the manifest's digest; Platform the platform it is for.
	Digest, Platform string
	// PlatformAssumed says the image's config names no os or architecture
	// (what `crane append` makes) and Platform is the one asked for.
	PlatformAssumed bool
	Config          Config
	// Layers are the layer descriptors, oldest first.
	Layers []v1.Descriptor
	// RawManifest and RawConfig are the manifest and config file as the
	// source has them, byte for byte: kept with the image, they give it
	// back with the same digest.
	RawManifest, RawConfig []byte

	img v1.Image
}

// Resolve looks ref up: it fetches the manifest (choosing opts.Platform
// from an index) and the config, and checks the image is a container image
// for that platform. A single-manifest image whose config leaves os or
// architecture empty (`crane append` writes such configs, and docker and
// containerd pull them) is taken to be for the platform asked for — the
// host's unless opts.Platform says otherwise — and marked PlatformAssumed;
// one that names another platform is refused. Errors wrap
// errdefs.ErrNotFound for an unknown image, ErrUnavailable for an
// unreachable registry.
func Resolve(ctx context.Context, ref string, opts RegistryOptions) (*Remote, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%w: image reference %q: %w", errdefs.ErrInvalid, ref, err)
	}
	if allowHTTP(parsed.Context().RegistryStr(), opts.Insecure) {
		parsed, _ = name.ParseReference(ref, name.Insecure)
	}
	plat, err := ParsePlatform(opts.Platform)
	if err != nil {
		return nil, err
	}
	desc, err := remote.Get(parsed, remoteOptions(ctx, opts, plat)...)
	if err != nil {
		return nil, registryError(err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		img, err = choosePlatform(desc, plat)
	} else {
		img, err = desc.Image()
	}
	if err != nil {
		return nil, registryError(err)
	}
	r, err := fromImage(canonical(parsed), img, plat)
	if err != nil {
		return nil, registryError(err)
	}
	return r, nil
}

// FromImage makes any image — read from a tarball or an OCI layout, built
// with mutate, resolved in a registry — something Pull and Fetch take, with
// the same checks Resolve makes: a container image for platform ("" means
// linux/amd64; an image whose config names no platform is taken to be for
// it), layers of container layer media types with sha256 digests. name is
// the canonical name it is recorded under. Its layers are read from img
// when Fetch finds them missing from the cache.
func FromImage(name string, img v1.Image, platform string) (*Remote, error) {
	plat, err := ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	return fromImage(name, img, plat)
}

func fromImage(name string, img v1.Image, plat v1.Platform) (*Remote, error) {
	r := &Remote{Name: name, img: img}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.OS == "" || cfg.Architecture == "" {
		r.PlatformAssumed = true
	}
	if gotOS, gotArch := cmp.Or(cfg.OS, plat.OS), cmp.Or(cfg.Architecture, plat.Architecture); gotOS != plat.OS || gotArch != plat.Architecture {
		return nil, fmt.Errorf("%w: the image is for %s/%s, not %s: its programs would not run in the guest (see --platform)", errdefs.ErrUnsupported, gotOS, gotArch, plat)
	}
	for _, l := range manifest.Layers {
		if !l.MediaType.IsLayer() {
			return nil, fmt.Errorf("%w: %s is a %s, not a container image layer", errdefs.ErrUnsupported, l.Digest, l.MediaType)
		}
		if _, err := blobcache.ParseDigest(l.Digest.String()); err != nil {
			return nil, err
		}
	}
	r.Digest, r.Platform, r.Layers = digest.String(), plat.String(), manifest.Layers
	r.RawManifest, r.RawConfig = rawManifest, rawConfig
	r.Config = configOf(cfg.Config)
	return r, nil
}

// configOf is the part of an image config a VM runs with.
func configOf(c v1.Config) Config {
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	return Config{
		Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, WorkingDir: c.WorkingDir, User: c.User,
		StopSignal: c.StopSignal, Labels: c.Labels, ExposedPorts: ports,
	}
}

// choosePlatform picks plat's image from an index, or says which
// platforms the index has.
func choosePlatform(desc *remote.Descriptor, plat v1.Platform) (v1.Image, error) {
	idx, err := desc.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	m, have, ok := PickPlatform(im, plat, nil)
	if ok {
		return idx.Image(m.Digest)
	}
	return nil, fmt.Errorf("%w: the image has no %s variant, only %s (see --platform)", errdefs.ErrUnsupported, plat, strings.Join(have, ", "))
}

// Fetch puts every layer in the cache, three at a time, reporting each
// one's progress under its short digest ("cached" when already there).
func (r *Remote) Fetch(ctx context.Context, cache *blobcache.Cache, report progress.Reporter) error {
	seen := map[string]bool{}
	sem := make(chan struct{}, 3)
	errs := make([]error, len(r.Layers))
	var wg sync.WaitGroup
	for i, l := range r.Layers {
		d := l.Digest.String()
		if seen[d] {
			continue
		}
		seen[d] = true
		id := short(d)
		if cache.Has(d, l.Size) {
			report.Report(progress.Event{ID: id, Action: "cached", Current: l.Size, Total: l.Size})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			errs[i] = r.fetch(ctx, cache, l, id, report)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *Remote) fetch(ctx context.Context, cache *blobcache.Cache, l v1.Descriptor, id string, report progress.Reporter) error {
	d := l.Digest.String()
	var last int64
	err := cache.Put(d, l.Size, func() (io.ReadCloser, error) {
		layer, err := r.img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, registryError(err)
		}
		rc, err := layer.Compressed()
		return rc, registryError(err)
	}, func(n int64) {
		if n-last >= 1<<20 || n == l.Size {
			last = n
			report.Report(progress.Event{ID: id, Action: "pull", Current: n, Total: l.Size})
		}
	})
	if err != nil {
		return fmt.Errorf("layer %s: %w", d, err)
	}
	report.Report(progress.Event{ID: id, Action: "done", Current: l.Size, Total: l.Size})
	return ctx.Err()
}

func remoteOptions(ctx context.Context, opts RegistryOptions, plat v1.Platform) []remote.Option {
	kc := opts.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithPlatform(plat),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(&httpPolicy{next: tr, insecure: opts.Insecure}),
		remote.WithUserAgent("banger"),
	}
}

// httpPolicy refuses plain HTTP to registries that are neither loopback
// nor listed as insecure. (go-containerregistry falls back to HTTP for
// private-range addresses on its own; banger does not.)
type httpPolicy struct {
	next     http.RoundTripper
	insecure []string
}

func (p *httpPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !allowHTTP(req.URL.Host, p.insecure) {
		return nil, fmt.Errorf("%w: registry %s over plain HTTP: list it in image.insecure_registries to allow it", errdefs.ErrUnsupported, req.URL.Host)
	}
	return p.next.RoundTrip(req)
}

// allowHTTP reports whether host (host or host:port) may be reached over
// plain HTTP: a loopback address, "localhost", or a listed registry.
func allowHTTP(host string, insecure []string) bool {
	if slices.Contains(insecure, host) {
		return true
	}
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
		if slices.Contains(insecure, h) {
			return true
		}
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// registryError maps go-containerregistry errors onto errdefs categories.
func registryError(err error) error {
	if err == nil {
		return nil
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %w", errdefs.ErrNotFound, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %w (if the image is private, add credentials with docker login)", errdefs.ErrNotFound, err)
		}
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w: %w", errdefs.ErrUnavailable, err)
	}
	return err
}
