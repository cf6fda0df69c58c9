package networks

import (
	"context"
	"errors"
)

// Object is one host object of a network, or one gc found that no record
// explains.
type Object struct {
	Kind, Name, Owner string
}

// KindBridge is a user network's bridge (its tables go with it).
const KindBridge = "network-bridge"

// Inventory lists the networks' bridges found on the host, each owned by
// its network's name, or by none (an orphan).
func (s *Service) Inventory(ctx context.Context) ([]Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inventory(ctx)
}

func (s *Service) inventory(ctx context.Context) ([]Object, error) {
	// The host first, then the records: a network is recorded before its
	// bridge exists, so a bridge seen here has its record already.
	bridges, err := s.opts.Host.Bridges(ctx)
	if err != nil {
		return nil, err
	}
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	owner := map[string]string{}
	for _, n := range all {
		owner[n.Bridge] = n.Name
	}
	out := make([]Object, 0, len(bridges))
	for _, b := range bridges {
		out = append(out, Object{Kind: KindBridge, Name: b, Owner: owner[b]})
	}
	return out, nil
}

// GC removes (unless dryRun) the bridges, and their tables, that no
// network record names, and returns them.
func (s *Service) GC(ctx context.Context, dryRun bool) ([]Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	inv, err := s.inventory(ctx)
	if err != nil {
		return nil, err
	}
	var orphans []Object
	var errs []error
	for _, o := range inv {
		if o.Owner != "" {
			continue
		}
		orphans = append(orphans, o)
		if !dryRun {
			errs = append(errs, s.opts.Host.RemoveBridge(ctx, o.Name))
		}
	}
	return orphans, errors.Join(errs...)
}
