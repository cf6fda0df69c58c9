// Package blobcache is banger's content-addressed store of registry blobs:
// an OCI image layout (oci-layout, blobs/sha256/<hex>) under the cache
// directory, shared by every pull.
//
// The cache never trusts its own files. A blob is written to a temporary
// file in the layout, its size and digest checked while it streams, and only
// then renamed into place, so a crash or a concurrent writer never leaves a
// partial blob under a digest's name. Open refuses a file whose size is not
// the descriptor's (a zero-byte or truncated blob is evicted, never served),
// and the reader it returns hashes every byte and fails at the end on a
// digest mismatch — go-containerregistry's own caches check neither, which
// once let an empty cached blob become an empty layer.
package blobcache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/bangerdev/banger/pkg/errdefs"
)

// ErrCorrupt is wrapped by errors for blobs whose size or digest is not
// what the descriptor says.
var ErrCorrupt = errors.New("blob does not match its digest")

// Cache is an OCI layout directory. It is safe for concurrent use, also by
// several processes: blobs appear by atomic rename only.
type Cache struct {
	dir string

	mu       sync.Mutex
	inflight map[string]*fetch
}

type fetch struct {
	done chan struct{}
	err  error
}

// Open prepares the layout at dir.
func Open(dir string) (*Cache, error) {
	for _, d := range []string{filepath.Join(dir, "blobs", "sha256"), filepath.Join(dir, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blob cache: %w", err)
		}
	}
	layout := filepath.Join(dir, "oci-layout")
	if _, err := os.Stat(layout); errors.Is(err, os.ErrNotExist) {
		if err := os.WriteFile(layout, []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("blob cache: %w", err)
		}
	}
	return &Cache{dir: dir, inflight: map[string]*fetch{}}, nil
}

// Dir is the layout's directory.
func (c *Cache) Dir() string { return c.dir }

// ParseDigest checks that d is "sha256:" and 64 lowercase hex digits and
// returns the hex part. Digests come from registries, so they are checked
// before they become file names.
func ParseDigest(d string) (string, error) {
	hexpart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexpart) != 64 || strings.Trim(hexpart, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: digest %q: want sha256:<64 hex digits>", errdefs.ErrInvalid, d)
	}
	return hexpart, nil
}

// Path is where blob d lives (whether or not it is there).
func (c *Cache) Path(d string) (string, error) {
	h, err := ParseDigest(d)
	if err != nil {
		return "", err
	}
	return filepath.Join(c.dir, "blobs", "sha256", h), nil
}

// SweepIngest removes the partial downloads a killed process left in the
// layout at dir (it creates nothing) and returns their paths. Call it
// only while no process writes to that cache: the daemon does, at start,
// for its own.
func SweepIngest(dir string) ([]string, error) {
	left, _ := filepath.Glob(filepath.Join(dir, "ingest", "blob-*"))
	for _, p := range left {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("blob cache: %w", err)
		}
	}
	return left, nil
}

// Has reports whether blob d is cached with the right size. (Its digest is
// checked when it is read.)
func (c *Cache) Has(d string, size int64) bool {
	p, err := c.Path(d)
	if err != nil {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Size() == size
}

// Open returns a reader of blob d that fails at its end, instead of
// returning io.EOF, unless the bytes hash to d. A missing blob wraps
// errdefs.ErrNotFound; one of the wrong size is evicted and reported the
// same way, so the caller fetches it again.
func (c *Cache) Open(d string, size int64) (io.ReadCloser, error) {
	p, err := c.Path(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != size {
		_ = f.Close()
		_ = os.Remove(p)
		return nil, fmt.Errorf("blob %s: cached copy has the wrong size, evicted: %w", d, errdefs.ErrNotFound)
	}
	return &verifier{r: f, c: f, digest: d, size: size, h: sha256.New()}, nil
}

// Verify reads blob d whole and reports ErrCorrupt (after evicting it) when
// it does not match; a missing blob wraps errdefs.ErrNotFound.
func (c *Cache) Verify(d string, size int64) error {
	rc, err := c.Open(d, size)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	_ = rc.Close()
	if errors.Is(err, ErrCorrupt) {
		_ = c.Evict(d)
	}
	return err
}

// Evict removes blob d.
func (c *Cache) Evict(d string) error {
	p, err := c.Path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("evict blob %s: %w", d, err)
	}
	return nil
}

// Put stores blob d from open() unless it is cached already. The stream is
// verified while it is written; only a blob of the right size and digest is
// renamed into place. Concurrent Puts of one digest in this process share
// one download; across processes the rename keeps the result whole.
// progress (may be nil) is called with the bytes written so far.
func (c *Cache) Put(d string, size int64, open func() (io.ReadCloser, error), progress func(int64)) error {
	if c.Has(d, size) {
		return nil
	}
	c.mu.Lock()
	if f, ok := c.inflight[d]; ok {
		c.mu.Unlock()
		<-f.done
		return f.err
	}
	f := &fetch{done: make(chan struct{})}
	c.inflight[d] = f
	c.mu.Unlock()

	f.err = c.put(d, size, open, progress)

	c.mu.Lock()
	delete(c.inflight, d)
	c.mu.Unlock()
	close(f.done)
	return f.err
}

func (c *Cache) put(d string, size int64, open func() (io.ReadCloser, error), progress func(int64)) (err error) {
	dst, err := c.Path(d)
	if err != nil {
		return err
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	tmp, err := os.CreateTemp(filepath.Join(c.dir, "ingest"), "blob-")
	if err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	v := &verifier{r: io.LimitReader(rc, size+1), digest: d, size: size, h: sha256.New(), progress: progress}
	if _, err := io.CopyBuffer(tmp, v, make([]byte, 1<<20)); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	cpIngested.Hit()
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("blob cache: %w", err)
	}
	return nil
}

// verifier hashes what passes through and turns the final io.EOF into an
// error unless size and digest match.
type verifier struct {
	r        io.Reader
	c        io.Closer
	digest   string
	size     int64
	n        int64
	h        hash.Hash
	progress func(int64)
	err      error
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.progress != nil && n > 0 {
		v.progress(v.n)
	}
	switch {
	case v.n > v.size:
		v.err = fmt.Errorf("blob %s: %w: more than the %d bytes the manifest gives", v.digest, ErrCorrupt, v.size)
	case errors.Is(err, io.EOF) && v.n < v.size:
		v.err = fmt.Errorf("blob %s: %w: %d of %d bytes", v.digest, ErrCorrupt, v.n, v.size)
	case errors.Is(err, io.EOF) && "sha256:"+hex.EncodeToString(v.h.Sum(nil)) != v.digest:
		v.err = fmt.Errorf("blob %s: %w: content hashes to sha256:%x", v.digest, ErrCorrupt, v.h.Sum(nil))
	default:
		return n, err
	}
	return n, v.err
}

func (v *verifier) Close() error {
	if v.c == nil {
		return nil
	}
	return v.c.Close()
}
