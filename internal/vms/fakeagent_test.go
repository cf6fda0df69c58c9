package vms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/internal/vmm"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// fakeAgent is the guest agent's session: a shutdown or a fatal signal
// ends the guest (as its main process exiting would), unless the machine
// plays an agent that never gets there.
type fakeAgent struct {
	m      *fakeMachine
	closed chan struct{}
	once   sync.Once
}

func (a *fakeAgent) SSH() *ssh.Client { return nil }

func (a *fakeAgent) ShutdownWith(ctx context.Context, o agentclient.ShutdownOptions) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	op := "agent.shutdown"
	if o.Now {
		op += ":now"
	}
	_ = a.m.h.do(op)
	exit := proto.Exit{Status: 143, Signal: "TERM"}
	if o.Signal != "" { // the host's choice over the image's STOPSIGNAL
		_ = a.m.h.do("agent.shutdown.signal:" + o.Signal)
		if n, ok := proto.SignalNumber(o.Signal); ok {
			exit = proto.Exit{Status: 128 + n, Signal: o.Signal}
		}
	}
	if !a.m.ignoreShutdown {
		go a.m.powerOff(exit)
	}
	return nil
}

func (a *fakeAgent) Signal(ctx context.Context, sig string) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	if err := a.m.h.do("agent.signal:" + sig); err != nil {
		return err
	}
	if sig == "KILL" && !a.m.ignoreShutdown {
		go a.m.powerOff(proto.Exit{Status: 137, Signal: "KILL"})
	}
	return nil
}

// frozen waits while the guest is paused: its agent cannot answer.
func (a *fakeAgent) frozen(ctx context.Context) error {
	select {
	case <-a.m.running():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a *fakeAgent) Close() error {
	a.once.Do(func() { _ = a.m.h.do("agent.close"); close(a.closed) })
	return nil
}
func (a *fakeAgent) Wait() error { <-a.closed; return nil }

func (h *host) dialer() AgentDialer {
	return func(_ context.Context, conn net.Conn, hostKey ssh.PublicKey) (Agent, error) {
		if err := h.do("agent.handshake"); err != nil {
			return nil, err
		}
		mc, ok := conn.(machineConn)
		if !ok {
			return nil, fmt.Errorf("dialer got a %T, not a fake machine's connection", conn)
		}
		if mc.m.guest.restored {
			if err := h.do("agent.restored"); err != nil {
				_ = conn.Close()
				return nil, err
			}
		}
		if err := mc.m.guest.checkPin(hostKey); err != nil {
			_ = conn.Close()
			return nil, err
		}
		_ = conn.Close()
		return &fakeAgent{m: mc.m, closed: make(chan struct{})}, nil
	}
}

// fakeGuest is the fake machine's agent as a held boot sees it: the host
// key it serves (its config drive's, or once restored the saved agent's)
// and whether it is held. Apply ends the hold, once, and switches the key
// for new connections; the fake dialer refuses a connection pinning any
// other key, as the real handshake does.
type fakeGuest struct {
	mu   sync.Mutex
	key  ssh.PublicKey
	held bool
	// restored guests answer through the host op "agent.restored" too,
	// which a test fails to make them mute.
	restored bool
	applied  []bootcfg.Config
	// reidentified are the identities Reidentify gave it.
	reidentified []bootcfg.Config
	now          []time.Time
}

// guestOf reads what the fake agent serves from spec's config drive, as
// the real agent reads it at boot.
func guestOf(spec vmm.Spec) *fakeGuest {
	g := &fakeGuest{}
	for _, d := range spec.Drives {
		if d.ID != "config" {
			continue
		}
		f, err := os.Open(d.Path)
		if err != nil {
			return g
		}
		defer func() { _ = f.Close() }()
		cfg, err := bootcfg.Decode(f)
		if err != nil {
			return g
		}
		if k, err := agentclient.ParseKey([]byte(cfg.SSH.HostKey)); err == nil {
			g.key = k.PublicKey()
		}
		g.held = cfg.Hold
	}
	return g
}

// checkPin is the handshake's host key check.
func (g *fakeGuest) checkPin(key ssh.PublicKey) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.key != nil && (key == nil || !bytes.Equal(g.key.Marshal(), key.Marshal())) {
		return errors.New("ssh: handshake failed: host key mismatch")
	}
	return nil
}

func (g *fakeGuest) isHeld() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// Apply implements Agent: a held guest takes the VM's config, once.
func (a *fakeAgent) Apply(ctx context.Context, cfg bootcfg.Config, now time.Time) error {
	if err := a.frozen(ctx); err != nil {
		return err
	}
	if err := a.m.h.do("agent.apply"); err != nil {
		return err
	}
	g := a.m.guest
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.held {
		return fmt.Errorf("agentclient: apply: the guest agent: not held: %w", errdefs.ErrUnavailable)
	}
	k, err := agentclient.ParseKey([]byte(cfg.SSH.HostKey))
	if err != nil || cfg.Hold {
		return fmt.Errorf("apply: a config that is held or has no host key: %w", err)
	}
	g.held, g.key = false, k.PublicKey()
	g.applied = append(g.applied, cfg)
	g.now = append(g.now, now)
	return nil
}
