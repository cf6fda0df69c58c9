// Package networks is the catalog of user-defined networks (`banger
// network create`): docker's user networks, each its own bridge, subnet
// and nft table, on which VMs reach each other by name and alias while
// VMs on different networks stay apart.
//
// A network's record (store.Networks, keyed by name) is written before
// anything exists on the host, and removed only after its host objects
// are gone, so a crash leaves a record whose objects Reconcile brings
// back (or `network rm` removes), never an object no record names. The
// host side is a small interface (Host): the daemon gives a
// hostnet.Network per network (hostnet.ForUser), tests a fake.
//
// The default network (banger's own bridge, [network] in the config) is
// not a record: listings show it as "bridge", as docker does.
package networks

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// The names docker reserves for its predefined networks; "bridge" is
// banger's default network, none and host are modes.
var reserved = []string{"bridge", "default", "none", "host"}

// Network is a user-defined network's record; its JSON names are the
// database format.
type Network struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Subnet  netip.Prefix      `json:"subnet"`
	Gateway netip.Addr        `json:"gateway"`
	Bridge  string            `json:"bridge"`
	Table   string            `json:"nft_table"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
}

// Host makes and removes a network's host objects.
type Host interface {
	// Names are the bridge and nft table the network with that id gets.
	Names(id string) (bridge, table string)
	// Taken are the subnets in use on the host: its routes and
	// addresses, the default network's subnet.
	Taken(ctx context.Context) ([]netip.Prefix, error)
	// Up makes (idempotently) the bridge, tables and DNS relay.
	Up(ctx context.Context, n Network) error
	// Down removes them all (idempotent).
	Down(ctx context.Context, n Network) error
	// Bridges are the user networks' bridges this daemon made, found on
	// the host (by name and owner mark), records or not.
	Bridges(ctx context.Context) ([]string, error)
	// RemoveBridge removes a bridge no record names, with its tables.
	RemoveBridge(ctx context.Context, bridge string) error
}

// Options configure a Service.
type Options struct {
	Store *store.Store
	Host  Host
	// Users lists, inside tx, the names of the VMs whose spec names the
	// network (the VM service answers).
	Users func(tx *store.Tx, name string) []string
	// Pool is where a subnet is chosen when none is given.
	Pool   netip.Prefix
	Events events.Publisher
	Log    *slog.Logger
}

// Service is the catalog.
type Service struct {
	opts Options
	// mu serializes create, remove and up: a name or subnet is taken
	// once, and a network is not removed while it is being brought up.
	mu sync.Mutex
	up map[string]bool // by id: Up done since the daemon started
}

// New returns the service.
func New(opts Options) *Service {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Users == nil {
		opts.Users = func(*store.Tx, string) []string { return nil }
	}
	opts.Events = events.Or(opts.Events)
	return &Service{opts: opts, up: map[string]bool{}}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// CheckName refuses what cannot name a network.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: network name %q: use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit", errdefs.ErrInvalid, name)
	}
	if slices.Contains(reserved, name) {
		return fmt.Errorf("%w: network name %q is reserved (%s)", errdefs.ErrInvalid, name, strings.Join(reserved, ", "))
	}
	return nil
}

func notFound(name string) error {
	return fmt.Errorf("network %q: %w; create it with `banger network create %s`", name, errdefs.ErrNotFound, name)
}

// CreateRequest is what `network create` asks for.
type CreateRequest struct {
	Name string
	// Subnet is empty for a free /24 of the pool.
	Subnet string
	Labels map[string]string
}

// Create records the network, then makes its bridge, tables and relay.
// A subnet that overlaps another network's, the default network's or a
// route of the host is refused; none given, the first free /24 of the
// pool is taken. On failure nothing stays, record included.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Network, error) {
	if err := CheckName(req.Name); err != nil {
		return Network{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	taken, err := s.opts.Host.Taken(ctx)
	if err != nil {
		return Network{}, fmt.Errorf("create network %s: %w", req.Name, err)
	}
	id := newID()
	n := Network{ID: id, Name: req.Name, Labels: req.Labels, Created: time.Now().UTC()}
	n.Bridge, n.Table = s.opts.Host.Names(id)
	err = s.opts.Store.Update(func(tx *store.Tx) error {
		if tx.Has(store.Networks, req.Name) {
			return fmt.Errorf("network %q: %w", req.Name, errdefs.ErrExists)
		}
		all, err := store.List[Network](tx, store.Networks)
		if err != nil {
			return err
		}
		for _, o := range all {
			taken = append(taken, o.Subnet)
		}
		if n.Subnet, err = s.subnet(req.Subnet, taken, all); err != nil {
			return err
		}
		n.Gateway = n.Subnet.Addr().Next()
		return tx.Create(store.Networks, req.Name, n)
	})
	if err != nil {
		return Network{}, err
	}
	cpRecorded.Hit()
	if err := s.opts.Host.Up(ctx, n); err != nil {
		uerr := s.opts.Host.Down(context.WithoutCancel(ctx), n)
		if uerr == nil {
			uerr = s.opts.Store.Delete(store.Networks, n.Name)
		}
		if uerr != nil {
			err = errors.Join(err, fmt.Errorf("undo (the record stays; `banger network rm %s` removes it): %w", n.Name, uerr))
		}
		return Network{}, fmt.Errorf("create network %s: %w", req.Name, err)
	}
	cpMade.Hit()
	s.up[n.ID] = true
	s.opts.Log.Info("network created", "network", n.Name, "id", n.ID, "subnet", n.Subnet)
	s.emit(events.Create, n)
	return n, nil
}

// subnet is the asked one, checked against taken, or a free /24 of the
// pool.
func (s *Service) subnet(asked string, taken []netip.Prefix, all []Network) (netip.Prefix, error) {
	if asked != "" {
		p, err := netip.ParsePrefix(asked)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 || p.Bits() < 8 || p.Masked() != p {
			return p, fmt.Errorf("%w: --subnet %q: want an IPv4 network between /8 and /29 such as 10.220.4.0/24", errdefs.ErrInvalid, asked)
		}
		for _, o := range all {
			if o.Subnet.Overlaps(p) {
				return p, fmt.Errorf("--subnet %s: %w: it overlaps network %s (%s)", p, errdefs.ErrConflict, o.Name, o.Subnet)
			}
		}
		for _, t := range taken {
			if t.Overlaps(p) {
				return p, fmt.Errorf("--subnet %s: %w: it overlaps %s, in use on this host; pick another range", p, errdefs.ErrConflict, t)
			}
		}
		return p, nil
	}
	return ChooseSubnet(s.opts.Pool, taken)
}

// ChooseSubnet is the first /24 of pool that overlaps none of taken.
func ChooseSubnet(pool netip.Prefix, taken []netip.Prefix) (netip.Prefix, error) {
	base := binary.BigEndian.Uint32(pool.Addr().AsSlice())
	for i := range uint32(1) << (24 - pool.Bits()) {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+i<<8)
		cand := netip.PrefixFrom(netip.AddrFrom4(b), 24)
		if !slices.ContainsFunc(taken, cand.Overlaps) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: every /24 of %s is taken; remove networks or give --subnet", errdefs.ErrUnavailable, pool)
}

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Service) emit(action events.Action, n Network) {
	s.opts.Events.Publish(events.Event{Type: events.TypeNetwork, Action: action, ID: n.ID, Name: n.Name})
}
