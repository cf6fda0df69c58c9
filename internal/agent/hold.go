package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/process"
	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agent/sshd"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// holdState is where a Service is in a held boot (bootcfg.Config.Hold):
// held until the host's apply, which is taken once.
type holdState int

const (
	// notHeld: the boot config was the VM's own.
	notHeld holdState = iota
	// held: waiting for the apply; nothing of the VM's own is set.
	held
	// applying: an apply is under way.
	applying
	// applyFailed: the one apply failed; the VM stays held and the host
	// ends it.
	applyFailed
	// applied: the VM's own config replaced the held one.
	applied
)

// isHeld says whether the VM still waits for its own config.
func (h holdState) isHeld() bool { return h == held || h == applying || h == applyFailed }

// Apply takes a held boot's own config (proto.RequestApply), once: PID 1's
// duties (ServiceOptions.Configure: clock, entropy, root, identity,
// volumes), then the SSH host key, authorized keys and exec defaults for
// new connections, then the main process, started by Run as in a boot
// that was not held. It returns once the main process started; an error
// says what failed, for the host to fail the start with (the request's
// name is the caller's to add: the SSH server's log line, the client's
// error).
func (s *Service) Apply(p proto.ApplyPayload) error {
	cfg, id, err := s.claimApply(p)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		s.mu.Lock()
		s.hold = applyFailed
		s.mu.Unlock()
		return err
	}
	if s.opts.Configure != nil {
		if err := s.opts.Configure(cfg, time.Unix(0, p.NowUnixNano)); err != nil {
			return fail(err)
		}
	}
	if err := s.srv.SetIdentity(id); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	s.cfg, s.hold = cfg, applied
	s.mu.Unlock()
	close(s.applied)
	<-s.started
	if cfg.Main != nil && s.Main() == nil {
		return errors.New("the VM is shutting down: its main process was not started")
	}
	return nil
}

// claimApply checks that this Service is held and p brings a config it
// can apply, and marks the apply under way.
func (s *Service) claimApply(p proto.ApplyPayload) (bootcfg.Config, sshd.Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.hold {
	case applied:
		return bootcfg.Config{}, sshd.Identity{}, fmt.Errorf("the VM's config was applied already; a held boot takes one: %w", errdefs.ErrConflict)
	case notHeld:
		return bootcfg.Config{}, sshd.Identity{}, fmt.Errorf("this VM's boot is not held: it runs the config it booted with: %w", errdefs.ErrConflict)
	case applying:
		return bootcfg.Config{}, sshd.Identity{}, fmt.Errorf("an apply is under way already: %w", errdefs.ErrConflict)
	case applyFailed:
		return bootcfg.Config{}, sshd.Identity{}, fmt.Errorf("an earlier apply failed; the VM stays held: %w", errdefs.ErrConflict)
	}
	cfg, err := decodeConfig(p)
	if err == nil && cfg.Init {
		err = fmt.Errorf("the config hands PID 1 to the image's init, which a held boot cannot do: %w", errdefs.ErrInvalid)
	}
	if err != nil {
		return bootcfg.Config{}, sshd.Identity{}, err
	}
	id, err := identityOf(cfg)
	if err != nil {
		return bootcfg.Config{}, sshd.Identity{}, err
	}
	s.hold = applying
	return cfg, id, nil
}

// decodeConfig is the config an apply or a re-identify brings, checked:
// the VM's own (not held), valid, with a fresh entropy seed (without one,
// VMs restored from one snapshot would share their random state) and the
// host's clock.
func decodeConfig(p proto.ApplyPayload) (bootcfg.Config, error) {
	var cfg bootcfg.Config
	if err := json.Unmarshal(p.Config, &cfg); err != nil {
		return cfg, fmt.Errorf("the config: %w: %w", err, errdefs.ErrInvalid)
	}
	switch {
	case cfg.Hold:
		return cfg, fmt.Errorf("the config is itself held: %w", errdefs.ErrInvalid)
	case len(cfg.EntropySeed) == 0:
		return cfg, fmt.Errorf("the config has no entropy_seed: the guest's random state would be its snapshot's: %w", errdefs.ErrInvalid)
	case p.NowUnixNano <= 0:
		return cfg, fmt.Errorf("no host clock (now_unix_nano): %w", errdefs.ErrInvalid)
	}
	return cfg, cfg.Validate()
}

// identityOf is the SSH server's identity for cfg.
func identityOf(cfg bootcfg.Config) (sshd.Identity, error) {
	hostKey, err := ssh.ParsePrivateKey([]byte(cfg.SSH.HostKey))
	if err != nil {
		return sshd.Identity{}, fmt.Errorf("host key: %w", err)
	}
	id := sshd.Identity{HostKey: hostKey}
	for _, line := range cfg.SSH.AuthorizedKeys {
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return sshd.Identity{}, fmt.Errorf("authorized key: %w", err)
		}
		id.AuthorizedKeys = append(id.AuthorizedKeys, k)
	}
	if cfg.Main != nil {
		id.Defaults = process.Spec{Env: cfg.Main.Env, Dir: cfg.Main.WorkingDir, User: cfg.Main.User}
	}
	return id, nil
}

// awaitApply returns true at once for a Service not held, else once Apply
// handed over the VM's config. A shutdown while held halts; either that
// or ctx ending returns false.
func (s *Service) awaitApply(ctx context.Context) bool {
	s.mu.Lock()
	h := s.hold
	s.mu.Unlock()
	if !h.isHeld() {
		return true
	}
	select {
	case <-s.applied:
		return true
	case <-ctx.Done():
		return false
	case p := <-s.shutdown:
		s.halt(p.Reboot)
		return false
	}
}

// signalHeld refuses a signal while no apply is under way: a held VM has
// no main process until the host applies its config.
func (s *Service) signalHeld() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == held || s.hold == applyFailed {
		return fmt.Errorf("the VM is held (booted to be snapshotted) and has no main process until the host applies its config: %w", errdefs.ErrConflict)
	}
	return nil
}

func (s *Service) markStarted() { s.startedOnce.Do(func() { close(s.started) }) }

// config is the current config: the held one until Apply replaced it.
func (s *Service) config() bootcfg.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}
