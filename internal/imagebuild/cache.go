package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CacheRepository names the hidden images that hold RUN results.
const CacheRepository = "banger.build/cache"

// CacheName is the image name a step's result is kept under.
func CacheName(key string) string {
	return CacheRepository + ":" + strings.TrimPrefix(key, "sha256:")
}

// IsCache reports whether an image name is a build cache entry (which
// listings hide and prune --build-cache removes). CacheRepository's first
// part is a registry host, so a cache name is stored as written; an image
// of the user's at some other registry's path ending in it is not one.
func IsCache(name string) bool {
	return strings.HasPrefix(name, CacheRepository+":")
}

// chain is a cache key: sha256 of its parent key and the parts, each
// length-prefixed so no two lists of parts collide.
func chain(parent string, parts ...string) string {
	h := sha256.New()
	for _, p := range append([]string{parent}, parts...) {
		_, _ = fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// marker is the file that says a step of this key ran before (for steps
// with no result to keep: ENV, LABEL, ...).
func (r *build) marker(key string) string {
	return filepath.Join(r.opts.CacheDir, strings.TrimPrefix(key, "sha256:")+".done")
}

// layerFile is where a COPY or ADD layer of this key is kept.
func (r *build) layerFile(key string) string {
	return filepath.Join(r.opts.CacheDir, strings.TrimPrefix(key, "sha256:")+".tar")
}

// seen reports whether a metadata step of this key ran before, and
// remembers that it has now.
func (r *build) seen(key string) bool {
	if r.opts.CacheDir == "" {
		return false
	}
	m := r.marker(key)
	_, err := os.Stat(m)
	hit := err == nil && !r.opts.NoCache
	if err != nil {
		if f, err := os.OpenFile(m, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
			_ = f.Close()
		}
	}
	return hit
}

// keepLayer writes a layer through write into the cache (or the scratch
// directory when there is no cache) atomically, and answers its path.
func (r *build) keepLayer(key string, write func(io.Writer) error) (string, error) {
	dst := r.scratch("layer.tar")
	if r.opts.CacheDir != "" {
		dst = r.layerFile(key)
	}
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	return dst, nil
}

// cachedLayer answers a kept layer of this key, if any.
func (r *build) cachedLayer(key string) (string, bool) {
	if r.opts.CacheDir == "" || r.opts.NoCache {
		return "", false
	}
	p := r.layerFile(key)
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}

// scratch names a new file in the build's scratch directory.
func (r *build) scratch(name string) string {
	r.n++
	return filepath.Join(r.opts.ScratchDir, fmt.Sprintf("%d-%s", r.n, name))
}
