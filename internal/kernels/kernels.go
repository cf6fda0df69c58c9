// Package kernels is banger's kernel catalog service: the guest kernels VMs
// boot. kernelcat turns what a user has (a vmlinux, a distribution's
// bzImage, a .deb, an image holding /boot) into a catalog entry; this
// package decides where entries go, records them in the store (bucket
// kernels, keyed by name), keeps one default, removes the kernels no VM
// uses, and resolves the kernel a VM boots, rebuilding its initramfs first
// when the guest agent changed.
//
// The catalog knows nothing of VMs: whether a VM boots a kernel is a
// question the daemon answers (Options.InUse), as for images.
package kernels

import (
	"context"
	"io"
	"log/slog"
	"sync"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/store"
)

// defaultMaxBytes bounds uploads and unpacking when Options.MaxBytes is 0.
const defaultMaxBytes = 32 << 30

// Options are what a catalog is built from.
type Options struct {
	// Layout says where entries, scratch space and downloads live.
	Layout paths.Layout
	// Config is the config file's [kernel] section: a kernel.default
	// there overrides the default recorded in the store.
	Config config.Kernel
	// MaxBytes bounds an upload and what a package or tarball may unpack
	// to (the config's image.max_layer_bytes); 0 means 32 GiB.
	MaxBytes int64
	// Store holds the records. Required.
	Store *store.Store
	// Log receives what the catalog did; nil discards it.
	Log *slog.Logger
	// Agent locates the guest agent binary an initramfs gets as /init
	// ("" for none). Nil: there is none.
	Agent func() (string, error)
	// OCI writes the flattened root file system of an OCI image, so pulls
	// take kernels packaged in images (the image catalog's Flatten). Nil:
	// pulls of image references are refused.
	OCI func(ctx context.Context, ref string, w io.Writer) error
	// Events hears of each kernel recorded (import, pull) and removed;
	// nil reports none.
	Events events.Publisher
	// InUse names a VM that boots k, or returns "". k.Default says
	// whether k is the effective default (what a VM without a kernel of
	// its own boots). It runs in the transaction that removes k. Nil: no
	// kernel is ever in use.
	InUse func(tx *store.Tx, k kernelcat.Kernel) (vmName string)
}

// Service is the kernel catalog. Its methods are safe for concurrent use.
type Service struct {
	layout   paths.Layout
	def      string // the config's kernel.default
	maxBytes int64
	store    *store.Store
	log      *slog.Logger
	agent    func() (string, error)
	oci      func(ctx context.Context, ref string, w io.Writer) error
	inUse    func(*store.Tx, kernelcat.Kernel) string
	events   events.Publisher

	mu   sync.Mutex
	busy map[string]bool // names being installed right now
}

// New returns the catalog described by opts.
func New(opts Options) *Service {
	s := &Service{
		layout: opts.Layout, def: opts.Config.Default, maxBytes: opts.MaxBytes, store: opts.Store, log: opts.Log,
		agent: opts.Agent, oci: opts.OCI, inUse: opts.InUse, busy: map[string]bool{}, events: events.Or(opts.Events),
	}
	if s.maxBytes <= 0 {
		s.maxBytes = defaultMaxBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.agent == nil {
		s.agent = func() (string, error) { return "", nil }
	}
	if s.inUse == nil {
		s.inUse = func(*store.Tx, kernelcat.Kernel) string { return "" }
	}
	return s
}

// Agent returns the guest agent binary new initramfs images get, "" when
// there is none, or why the configured one cannot be used.
func (s *Service) Agent() (string, error) { return s.agent() }

// agentPath is Agent for callers that treat "no agent" and "the configured
// agent is missing" alike; the error is logged.
func (s *Service) agentPath() string {
	p, err := s.agent()
	if err != nil {
		s.log.Warn("guest agent binary", "error", err)
	}
	return p
}
