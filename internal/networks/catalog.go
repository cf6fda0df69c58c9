package networks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/bangerdev/banger/internal/events"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Info is a network as `network inspect` shows it.
type Info struct {
	Network
	// Users are the names of the VMs whose spec names the network.
	Users []string
}

func getTx(tx *store.Tx, name string) (Network, error) {
	var n Network
	if err := tx.Get(store.Networks, name, &n); err != nil {
		if errors.Is(err, errdefs.ErrNotFound) {
			return n, notFound(name)
		}
		return n, err
	}
	return n, nil
}

// Get returns network name, found by name, id or unambiguous id prefix.
func (s *Service) Get(ref string) (Network, error) {
	var n Network
	err := s.opts.Store.View(func(tx *store.Tx) error {
		var err error
		n, err = findTx(tx, ref)
		return err
	})
	return n, err
}

func findTx(tx *store.Tx, ref string) (Network, error) {
	n, err := getTx(tx, ref)
	if !errors.Is(err, errdefs.ErrNotFound) || len(ref) < 4 {
		return n, err
	}
	all, lerr := store.List[Network](tx, store.Networks)
	if lerr != nil {
		return n, lerr
	}
	var hits []Network
	for _, o := range all {
		if strings.HasPrefix(o.ID, ref) {
			hits = append(hits, o)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		return n, err
	}
	return n, fmt.Errorf("network %q: %w: the id prefix matches %d networks", ref, errdefs.ErrInvalid, len(hits))
}

// Inspect returns the network with the VMs that use it.
func (s *Service) Inspect(ref string) (Info, error) {
	var in Info
	err := s.opts.Store.View(func(tx *store.Tx) error {
		n, err := findTx(tx, ref)
		in = Info{Network: n, Users: s.opts.Users(tx, n.Name)}
		return err
	})
	return in, err
}

// List returns every user-defined network, by name.
func (s *Service) List() ([]Network, error) {
	ns, err := store.ListAll[Network](s.opts.Store, store.Networks)
	if ns == nil {
		ns = []Network{}
	}
	return ns, err
}

// Remove removes network ref's bridge, tables and relay, then its record.
// A network a VM's spec names (running or not) is refused, naming the
// VMs.
func (s *Service) Remove(ctx context.Context, ref string) (Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n Network
	err := s.opts.Store.View(func(tx *store.Tx) error {
		var err error
		if n, err = findTx(tx, ref); err != nil {
			return err
		}
		if users := s.opts.Users(tx, n.Name); len(users) > 0 {
			return fmt.Errorf("network %s: %w: vm %s uses it; remove them or disconnect them first (banger network disconnect %s %s)",
				n.Name, errdefs.ErrConflict, strings.Join(users, ", "), n.Name, users[0])
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	if err := s.opts.Host.Down(ctx, n); err != nil {
		return n, fmt.Errorf("remove network %s (its record stays; try again): %w", n.Name, err)
	}
	delete(s.up, n.ID)
	cpDown.Hit()
	if err := s.opts.Store.Delete(store.Networks, n.Name); err != nil {
		return n, fmt.Errorf("remove network %s: its bridge and tables are gone, its record stays (try again): %w", n.Name, err)
	}
	s.opts.Log.Info("network removed", "network", n.Name, "id", n.ID)
	s.emit(events.Remove, n)
	return n, nil
}

// Prune removes every network no VM uses and returns their names.
func (s *Service) Prune(ctx context.Context) ([]string, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var out []string
	var errs []error
	for _, n := range all {
		in, err := s.Inspect(n.Name)
		if err != nil || len(in.Users) > 0 {
			continue
		}
		if _, err := s.Remove(ctx, n.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, n.Name)
	}
	return out, errors.Join(errs...)
}

// Up returns network name with its host objects made, once per daemon
// start (a VM's network stage asks before it attaches).
func (s *Service) Up(ctx context.Context, name string) (Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.Get(name)
	if err != nil {
		return n, err
	}
	if s.up[n.ID] {
		return n, nil
	}
	if err := s.opts.Host.Up(ctx, n); err != nil {
		return n, fmt.Errorf("network %s: %w", n.Name, err)
	}
	s.up[n.ID] = true
	return n, nil
}

// Reconcile brings every network up at daemon start: VMs that outlived
// the daemon need their network's DNS relay, and a create or rm that a
// crash cut short gets its objects back (rm then removes them).
func (s *Service) Reconcile(ctx context.Context) error {
	all, err := s.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range all {
		if _, err := s.Up(ctx, n.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DownAll removes every network's host objects, keeping the records
// (`banger network teardown`); the next VM on a network brings it back.
func (s *Service) DownAll(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range all {
		errs = append(errs, s.opts.Host.Down(ctx, n))
		delete(s.up, n.ID)
	}
	return errors.Join(errs...)
}
