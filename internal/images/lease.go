package images

import (
	"sync"

	"github.com/bangerdev/banger/internal/imagepull"
)

// A lease is what Prune must keep although no record may yet name it: the
// blobs a pull, load or store is fetching, the images a build is working
// from, and — while any build holds a lease — the build's step files.
// (containerd's leases do the same for its garbage collector.)
//
// Why it is safe: Prune decides and deletes while holding leaseMu, and a
// lease is taken and released under leaseMu. A pipeline leases its blobs
// before it looks in the blob cache and releases them after its record is
// written. So a prune that starts before the release sees either the
// lease or, once released, the record naming the blobs; a lease taken
// after a prune finds the blob gone and fetches it again.
type leases struct {
	mu     sync.Mutex
	counts map[string]int // "blob:<digest>" and "image:<name>" keys
	builds int
}

func blobKey(digest string) string { return "blob:" + digest }
func imageKey(name string) string  { return "image:" + name }

// hold adds keys to the leased set; call the result once to release them.
func (s *Service) hold(keys ...string) func() {
	s.leases.mu.Lock()
	defer s.leases.mu.Unlock()
	if s.leases.counts == nil {
		s.leases.counts = map[string]int{}
	}
	for _, k := range keys {
		s.leases.counts[k]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.leases.mu.Lock()
			defer s.leases.mu.Unlock()
			for _, k := range keys {
				if s.leases.counts[k]--; s.leases.counts[k] <= 0 {
					delete(s.leases.counts, k)
				}
			}
		})
	}
}

// holdRemote leases the image name a pipeline records and the blobs of
// the image it fetches ("" for none).
func (s *Service) holdRemote(name string, r *imagepull.Remote) func() {
	var keys []string
	if name != "" {
		keys = append(keys, imageKey(name))
	}
	for _, l := range r.Layers {
		keys = append(keys, blobKey(l.Digest.String()))
	}
	return s.hold(keys...)
}

// blobKeys are the lease keys of digests.
func blobKeys(digests []string) []string {
	keys := make([]string, len(digests))
	for i, d := range digests {
		keys[i] = blobKey(d)
	}
	return keys
}

// leased reports whether key is held. The caller holds leases.mu.
func (s *Service) leased(key string) bool { return s.leases.counts[key] > 0 }

// Lease is a build's hold on the catalog: Prune keeps every image it was
// given (and so their blobs) and the build's step files until Release.
type Lease struct {
	s  *Service
	mu sync.Mutex
	// releases undo each Keep.
	releases []func()
	done     bool
}

// BuildLease starts a build's lease. Call Release when the build ends.
func (s *Service) BuildLease() *Lease {
	s.leases.mu.Lock()
	s.leases.builds++
	s.leases.mu.Unlock()
	return &Lease{s: s}
}

// Keep leases the image named name (normalized like Find) and the blob
// digests given. Keep the name before looking the image up, so a prune
// between the two cannot remove it.
func (l *Lease) Keep(name string, blobs ...string) {
	keys := blobKeys(blobs)
	if n, err := imagepull.NormalizeName(name); err == nil {
		keys = append(keys, imageKey(n))
	}
	release := l.s.hold(keys...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		release()
		return
	}
	l.releases = append(l.releases, release)
}

// Release ends the lease. Calling it again does nothing.
func (l *Lease) Release() {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return
	}
	l.done = true
	rel := l.releases
	l.releases = nil
	l.mu.Unlock()
	for _, r := range rel {
		r()
	}
	l.s.leases.mu.Lock()
	l.s.leases.builds--
	l.s.leases.mu.Unlock()
}
