package blobcache

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bangerdev/banger/pkg/errdefs"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func opener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func TestPutVerifiesBeforeTheBlobAppears(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("layer bytes")
	d := digest(blob)
	tests := []struct {
		name string
		body []byte
		size int64
	}{
		{"wrong content", []byte("layer bytez"), int64(len(blob))},
		{"short", blob[:4], int64(len(blob))},
		{"long", append(bytes.Clone(blob), '!'), int64(len(blob))},
		{"empty", nil, int64(len(blob))},
	}
	for _, tt := range tests {
		err := c.Put(d, tt.size, opener(tt.body), nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Put = %v, want ErrCorrupt", tt.name, err)
		}
		if c.Has(d, int64(len(blob))) {
			t.Fatalf("%s: a bad blob was stored", tt.name)
		}
	}
	if left, _ := os.ReadDir(filepath.Join(c.Dir(), "ingest")); len(left) != 0 {
		t.Fatalf("%d temporary files left in ingest", len(left))
	}
	var seen int64
	if err := c.Put(d, int64(len(blob)), opener(blob), func(n int64) { seen = n }); err != nil || seen != int64(len(blob)) {
		t.Fatalf("good Put: %v (progress %d)", err, seen)
	}
	rc, err := c.Open(d, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || !bytes.Equal(b, blob) {
		t.Fatalf("read back %q, %v", b, err)
	}
	_ = rc.Close()
	if _, err := os.Stat(filepath.Join(c.Dir(), "oci-layout")); err != nil {
		t.Fatalf("not an OCI layout: %v", err)
	}
}

func TestOpenNeverServesABadBlob(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("0123456789"), 1000)
	d, size := digest(blob), int64(len(blob))
	p, _ := c.Path(d)
	for name, content := range map[string][]byte{
		"zero-byte": {},
		"truncated": blob[:size/2],
	} {
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Open(d, size); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("%s: Open = %v, want ErrNotFound", name, err)
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s blob not evicted", name)
		}
	}
	flipped := bytes.Clone(blob)
	flipped[size-1] ^= 1
	if err := os.WriteFile(p, flipped, 0o644); err != nil {
		t.Fatal(err)
	}
	rc, err := c.Open(d, size)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	_ = rc.Close()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading a bit-flipped blob: %v, want ErrCorrupt at its end", err)
	}
	if err := c.Verify(d, size); !errors.Is(err, ErrCorrupt) || c.Has(d, size) {
		t.Fatalf("Verify = %v; still cached %v", err, c.Has(d, size))
	}
}

func TestConcurrentPutsShareOneDownload(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("x"), 1<<20)
	d := digest(blob)
	var opens atomic.Int32
	gate := make(chan struct{})
	open := func() (io.ReadCloser, error) {
		opens.Add(1)
		<-gate // hold the first download until every Put has started
		return io.NopCloser(bytes.NewReader(blob)), nil
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = c.Put(d, int64(len(blob)), open, nil) }()
	}
	for c.inflightCount() == 0 {
		runtime.Gosched() // the first Put registers its download
	}
	time.Sleep(50 * time.Millisecond) // let the other Puts arrive while it is held
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := opens.Load(); n != 1 {
		t.Fatalf("%d downloads for 8 concurrent Puts of one blob, want 1", n)
	}
}

func (c *Cache) inflightCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.inflight)
}

// SweepIngest removes what a killed download left in the ingest
// directory, keeps the cached blobs, and creates nothing where there is no
// cache.
func TestSweepIngest(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("layer bytes")
	if err := c.Put(digest(blob), int64(len(blob)), opener(blob), nil); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(dir, "ingest", "blob-123")
	if err := os.WriteFile(partial, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	left, err := SweepIngest(dir)
	if err != nil || len(left) != 1 || left[0] != partial {
		t.Fatalf("SweepIngest = %v, %v; want [%s]", left, err, partial)
	}
	if _, err := os.Stat(partial); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial download survived: %v", err)
	}
	if !c.Has(digest(blob), int64(len(blob))) {
		t.Error("the sweep removed a cached blob")
	}
	none := filepath.Join(t.TempDir(), "absent")
	if left, err := SweepIngest(none); err != nil || len(left) != 0 {
		t.Errorf("SweepIngest of no cache = %v, %v", left, err)
	}
	if _, err := os.Stat(none); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("SweepIngest created %s", none)
	}
}
