// Package images is banger's image catalog: the read-only root file systems
// every VM's disk is cloned from. It pulls images from registries, stores
// any other OCI image (Store: loaded, built, committed) through the same
// pipeline, and imports root file system tarballs through imagepull; it
// keeps each OCI image's manifest and config beside its ext4 so OCI gives
// the image back with its digest. It records each one in
// the store (bucket images, keyed by canonical name) with its files in
// paths.Layout.Image(id), finds them by name or id prefix, removes those no
// VM uses, prunes the build cache and the blobs no image names (leases keep
// what pipelines in flight work on), and on start sweeps what an
// interrupted build left.
//
// An image is built in a scratch directory and renamed into place before
// its record is written, so a failed build leaves neither; Reconcile
// removes what a crash between the two leaves. Work on one name is
// serialized, so concurrent pulls of one image are safe: the second finds
// the first's result up to date.
//
// The catalog knows nothing of VMs. VMs depend on images, not the other
// way round, so whether a VM uses an image is a question the daemon
// answers (Options.InUse).
package images

import (
	"log/slog"
	"sync"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/internal/keylock"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
)

// Options are what a catalog is built from.
type Options struct {
	// Layout says where image files, scratch space and the blob cache live.
	Layout paths.Layout
	// Config is the config file's [image] section: platform, insecure
	// registries, size limits.
	Config config.Image
	// Store holds the records. Required.
	Store *store.Store
	// Log receives what the catalog did; nil discards it.
	Log *slog.Logger
	// Agent locates the guest agent binary new images get ("" for none).
	// It is asked at each build, so a newly installed agent is used, and
	// a pull is redone when the agent changed. Nil: images get no agent.
	Agent func() (string, error)
	// InUse names a VM whose record uses img, or returns "". It runs in
	// the transaction that removes or replaces img, so its answer holds
	// when the record changes. Nil: no image is ever in use.
	InUse func(tx *store.Tx, img Image) (vmName string)
	// Events hears of each image recorded (pull, import) and removed;
	// nil reports none.
	Events events.Publisher
	// IsBuildCache says an image name is a build's cache entry, which
	// Prune removes by default; nil: no image is.
	IsBuildCache func(name string) bool
}

// Service is the image catalog. Its methods are safe for concurrent use.
type Service struct {
	layout paths.Layout
	cfg    config.Image
	store  *store.Store
	log    *slog.Logger
	agent  func() (string, error)
	inUse  func(*store.Tx, Image) string
	events events.Publisher
	// isBuildCache: see Options.IsBuildCache.
	isBuildCache func(string) bool

	leases leases // what Prune keeps although no record names it
	mu     sync.Mutex
	names  keylock.Set      // per-name build locks
	cache  *blobcache.Cache // opened on the first pull
}

// New returns the catalog described by opts. It touches nothing on disk:
// call Reconcile once before serving.
func New(opts Options) *Service {
	s := &Service{
		layout: opts.Layout, cfg: opts.Config, store: opts.Store, log: opts.Log,
		agent: opts.Agent, inUse: opts.InUse, events: events.Or(opts.Events),
		isBuildCache: opts.IsBuildCache,
	}
	if s.isBuildCache == nil {
		s.isBuildCache = func(string) bool { return false }
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.agent == nil {
		s.agent = func() (string, error) { return "", nil }
	}
	if s.inUse == nil {
		s.inUse = func(*store.Tx, Image) string { return "" }
	}
	return s
}

// lockName serializes work on one image name; call the result to unlock.
func (s *Service) lockName(name string) func() { return s.names.Lock(name) }

// blobCache opens the layer cache on first use, so a daemon that never
// pulls never creates it.
func (s *Service) blobCache() (*blobcache.Cache, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		c, err := blobcache.Open(s.layout.OCICache())
		if err != nil {
			return nil, err
		}
		s.cache = c
	}
	return s.cache, nil
}
