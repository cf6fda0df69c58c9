package agent

import (
	"fmt"
	"time"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agent/sshd"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Reidentify makes a running VM restored from another VM's checkpoint (a
// fork) the VM of p's config (proto.RequestReidentify): PID 1's part
// (ServiceOptions.Reidentify: clock, entropy, hostname, network,
// resolv.conf), then the SSH host key, authorized keys and exec defaults
// for new connections. The main process and every other one go on,
// never restarted; the root, its mounts and tmpfs stay as they are. It
// works on a VM that booted its own config and on a held one once
// applied; a held VM never applied takes an apply, not this. A failed
// re-identify leaves the VM part the one, part the other (the host ends
// such a fork); it may be tried again. As with Apply, the request's name
// is the caller's to add to an error.
func (s *Service) Reidentify(p proto.ApplyPayload) error {
	prev, cfg, id, err := s.claimReidentify(p)
	if err != nil {
		return err
	}
	defer func() {
		s.mu.Lock()
		s.reidentifying = false
		s.mu.Unlock()
	}()
	if err := s.opts.Reidentify(prev, cfg, time.Unix(0, p.NowUnixNano)); err != nil {
		return err
	}
	if err := s.srv.SetIdentity(id); err != nil {
		return err
	}
	s.mu.Lock()
	s.cfg = cfg
	s.mu.Unlock()
	return nil
}

// claimReidentify checks that this Service runs a VM's own config and p
// brings one it can take, and marks the re-identify under way. It
// returns the config the VM runs with and the new one.
func (s *Service) claimReidentify(p proto.ApplyPayload) (prev, cfg bootcfg.Config, id sshd.Identity, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.hold == held || s.hold == applyFailed:
		return prev, cfg, id, fmt.Errorf("the VM is held (booted to be snapshotted) and its own config was never applied: it takes an apply, not a re-identify: %w", errdefs.ErrConflict)
	case s.hold == applying:
		return prev, cfg, id, fmt.Errorf("an apply is under way: %w", errdefs.ErrConflict)
	case s.reidentifying:
		return prev, cfg, id, fmt.Errorf("a re-identify is under way already: %w", errdefs.ErrConflict)
	case s.opts.Reidentify == nil:
		return prev, cfg, id, fmt.Errorf("this agent is not the VM's PID 1 (the image's init is, or it serves outside a VM): it cannot set the VM's clock or network: %w", errdefs.ErrUnsupported)
	}
	if cfg, err = decodeConfig(p); err != nil {
		return prev, cfg, id, err
	}
	if id, err = identityOf(cfg); err != nil {
		return prev, cfg, id, err
	}
	s.reidentifying = true
	return s.cfg, cfg, id, nil
}
