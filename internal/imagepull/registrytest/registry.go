package registrytest

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is an in-memory OCI registry on 127.0.0.1.
type Registry struct {
	// Host is "127.0.0.1:PORT", the prefix of every reference it serves.
	Host string

	srv    *http.Server
	mu     sync.Mutex
	blobs  map[string]int                 // GETs per blob digest
	tamper map[string]func([]byte) []byte // replaced blob bodies
}

// Start serves a registry until the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	r, err := Serve("127.0.0.1:0")
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// Serve starts a registry on addr (for programs; tests use Start).
func Serve(addr string) (*Registry, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	r := &Registry{Host: l.Addr().String(), blobs: map[string]int{}, tamper: map[string]func([]byte) []byte{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = &http.Server{Handler: r.wrap(inner), ReadHeaderTimeout: 0}
	go func() { _ = r.srv.Serve(l) }()
	return r, nil
}

// Close stops the registry.
func (r *Registry) Close() { _ = r.srv.Close() }

// Ref is the full reference of repo[:tag] on this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Push uploads img as repo:tag and returns its reference and manifest digest.
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) (string, string) {
	t.Helper()
	ref, err := r.PushImage(repoTag, img)
	if err != nil {
		t.Fatalf("registrytest: push %s: %v", repoTag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref, d.String()
}

// PushImage is Push for programs.
func (r *Registry) PushImage(repoTag string, img v1.Image) (string, error) {
	ref := r.Ref(repoTag)
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	return ref, remote.Write(tag, img)
}

// PushIndex uploads a multi-platform index as repo:tag.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref := r.Ref(repoTag)
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatalf("registrytest: push index %s: %v", repoTag, err)
	}
	return ref
}

// BlobGets counts the GETs of blob digest ("sha256:...") served so far.
func (r *Registry) BlobGets(digest string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobs[digest]
}

// Tamper makes the registry serve f(original) instead of blob digest, to
// test what a client does with a blob that does not match its digest.
func (r *Registry) Tamper(digest string, f func([]byte) []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tamper[digest] = f
}

func (r *Registry) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		i := strings.LastIndex(req.URL.Path, "/blobs/")
		if req.Method != http.MethodGet || i < 0 {
			next.ServeHTTP(w, req)
			return
		}
		digest := req.URL.Path[i+len("/blobs/"):]
		r.mu.Lock()
		r.blobs[digest]++
		f := r.tamper[digest]
		r.mu.Unlock()
		if f == nil {
			next.ServeHTTP(w, req)
			return
		}
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, req)
		body := f(rec.body)
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
	})
}

type bufferedResponse struct {
	header http.Header
	status int
	body   []byte
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(s int)   { b.status = s }
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}
