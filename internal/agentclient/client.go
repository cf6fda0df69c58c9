// Package agentclient is the host side of the guest agent's channel: it
// speaks SSH (golang.org/x/crypto/ssh) to banger-agent over any byte stream
// a VMM offers — a QEMU virtio-serial socket, a Firecracker hybrid-vsock
// connection, TCP on the VM's address — with the agent's host key pinned.
//
// The daemon keeps one Client per running VM and opens a channel per exec,
// copy or shell, so an exec on a running VM costs a channel open, not a
// handshake. SSH exposes the underlying *ssh.Client for what this package
// does not wrap (e.g. the daemon relaying an OpenSSH client's channels to
// the agent for `banger ssh-config`'s ProxyCommand).
//
// The wire protocol (banger's requests on top of standard SSH) is
// documented in package proto.
package agentclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/proto"
	"github.com/bangerdev/banger/internal/bootcfg"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// DefaultUser is the SSH user the client logs in as; banger exec requests
// choose their own user, so this only matters for OpenSSH-style sessions.
const DefaultUser = "root"

// ErrHostKeyMismatch is wrapped when the agent does not present the pinned
// host key.
var ErrHostKeyMismatch = errors.New("agent host key does not match the pinned key")

// Config is how to authenticate both ends.
type Config struct {
	// HostKey is the agent's public host key (pinned; required).
	HostKey ssh.PublicKey
	// Signer is the daemon's client key (required).
	Signer ssh.Signer
	// User is the SSH user name; empty means DefaultUser.
	User string
	// KeyExchanges, when set, are the key exchange algorithms to offer;
	// empty means x/crypto/ssh's defaults.
	KeyExchanges []string
}

// Client is one SSH connection to an agent.
type Client struct {
	client *ssh.Client
	conn   net.Conn
	// noExecChannel: the agent rejected proto.ChannelExec (an older
	// agent); execs go as a session and a request.
	noExecChannel atomic.Bool
}

// Over returns a Client on an SSH connection someone else owns (the
// daemon's agent link): closing it is the owner's business.
func Over(c *ssh.Client) *Client { return &Client{client: c} }

// Dial runs the SSH handshake over conn (a fresh byte stream to the agent)
// and returns a client. ctx bounds the handshake; on error conn is closed.
func Dial(ctx context.Context, conn net.Conn, cfg Config) (*Client, error) {
	if cfg.HostKey == nil || cfg.Signer == nil {
		_ = conn.Close()
		return nil, fmt.Errorf("agentclient: host key and client key are required: %w", errdefs.ErrInvalid)
	}
	user := cfg.User
	if user == "" {
		user = DefaultUser
	}
	pinned := cfg.HostKey.Marshal()
	sc := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(cfg.Signer)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			if string(key.Marshal()) != string(pinned) {
				return fmt.Errorf("%w: got %s, want %s", ErrHostKeyMismatch, ssh.FingerprintSHA256(key), ssh.FingerprintSHA256(cfg.HostKey))
			}
			return nil
		},
		HostKeyAlgorithms: []string{cfg.HostKey.Type()},
		ClientVersion:     "SSH-2.0-banger",
	}
	sc.KeyExchanges = cfg.KeyExchanges
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, "banger-agent", sc)
	interrupted := !stop()
	if err != nil {
		_ = conn.Close()
		if interrupted && ctx.Err() != nil {
			return nil, fmt.Errorf("agentclient: handshake: %w", ctx.Err())
		}
		return nil, fmt.Errorf("agentclient: handshake: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{client: ssh.NewClient(c, chans, reqs), conn: conn}, nil
}

// SSH returns the underlying SSH client.
func (c *Client) SSH() *ssh.Client { return c.client }

// Close closes the connection; running sessions end.
func (c *Client) Close() error { return c.client.Close() }

// Wait blocks until the connection ends and returns why.
func (c *Client) Wait() error { return c.client.Wait() }

// request sends a global request bounded by ctx.
func (c *Client) request(ctx context.Context, name string, payload []byte) (bool, []byte, error) {
	type result struct {
		ok   bool
		resp []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ok, resp, err := c.client.SendRequest(name, true, payload)
		done <- result{ok, resp, err}
	}()
	select {
	case r := <-done:
		return r.ok, r.resp, r.err
	case <-ctx.Done():
		return false, nil, ctx.Err()
	}
}

// Ping checks that the agent answers (a keepalive round trip).
func (c *Client) Ping(ctx context.Context) error {
	ok, _, err := c.request(ctx, proto.RequestKeepalive, nil)
	if err != nil {
		return fmt.Errorf("agentclient: ping: %w", err)
	}
	if !ok {
		return fmt.Errorf("agentclient: ping refused: %w", errdefs.ErrUnavailable)
	}
	return nil
}

// Info is what the agent reports about itself and the main process.
type Info = proto.InfoPayload

// Info asks the agent for its version and the main process's state.
func (c *Client) Info(ctx context.Context) (Info, error) {
	ok, resp, err := c.request(ctx, proto.RequestInfo, nil)
	if err != nil {
		return Info{}, fmt.Errorf("agentclient: info: %w", err)
	}
	var info Info
	if !ok || proto.Unmarshal(resp, &info) != nil {
		return Info{}, fmt.Errorf("agentclient: info: bad answer: %w", errdefs.ErrUnavailable)
	}
	return info, nil
}

// ShutdownOptions tune Shutdown.
type ShutdownOptions struct {
	// Signal is sent first ("TERM", "QUIT"); empty means the image's stop
	// signal, else SIGTERM.
	Signal string
	// Grace overrides the boot config's stop-signal-to-SIGKILL grace.
	Grace time.Duration
	// Now sends SIGKILL right after the stop signal.
	Now bool
	// Reboot reboots instead of powering off.
	Reboot bool
}

// Shutdown asks the agent to stop the main process gracefully and power
// off. It returns once the agent accepted; the caller waits for the VMM to
// exit.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.ShutdownWith(ctx, ShutdownOptions{})
}

// ShutdownWith is Shutdown with options.
func (c *Client) ShutdownWith(ctx context.Context, o ShutdownOptions) error {
	p := proto.ShutdownPayload{Signal: o.Signal, GraceMS: int(o.Grace / time.Millisecond), Now: o.Now, Reboot: o.Reboot}
	ok, _, err := c.request(ctx, proto.RequestShutdown, proto.Marshal(p))
	if err != nil {
		return fmt.Errorf("agentclient: shutdown: %w", err)
	}
	if !ok {
		return fmt.Errorf("agentclient: shutdown refused: %w", errdefs.ErrUnsupported)
	}
	return nil
}

// Signal sends sig ("KILL", "HUP", a number; empty means KILL) to the main
// process. The VM ends when the process does.
func (c *Client) Signal(ctx context.Context, sig string) error {
	ok, msg, err := c.request(ctx, proto.RequestSignal, proto.Marshal(proto.SignalPayload{Signal: sig}))
	if err != nil {
		return fmt.Errorf("agentclient: signal: %w", err)
	}
	if !ok {
		if len(msg) > 0 {
			return fmt.Errorf("agentclient: signal %s: %s: %w", sig, msg, errdefs.ErrInvalid)
		}
		return fmt.Errorf("agentclient: signal: %w: the VM's guest agent is older than this banger; pull or import its image again", ErrOldAgent)
	}
	return nil
}

// Apply sends a held agent (bootcfg.Config.Hold) the VM's own config and
// the host's clock, and returns once the agent applied it and started the
// main process. Connections made after it see cfg's SSH host key; this one
// keeps the key it was made with (close it and dial again, pinning the new
// key: its handshake then draws from the reseeded pool).
func (c *Client) Apply(ctx context.Context, cfg bootcfg.Config, now time.Time) error {
	return c.sendConfig(ctx, proto.RequestApply, "apply", cfg, now)
}

// Reidentify gives a running agent restored from a checkpoint of another
// VM (a fork) its own identity: cfg is the fork's config (its MAC,
// address, hostname, SSH host key, a fresh entropy seed) and now the
// host's clock. The guest's processes, the main one included, go on as
// they were. It returns once the guest is the fork; as with Apply, only
// connections made after it see cfg's host key. A held agent whose config
// was never applied refuses it.
func (c *Client) Reidentify(ctx context.Context, cfg bootcfg.Config, now time.Time) error {
	return c.sendConfig(ctx, proto.RequestReidentify, "re-identify", cfg, now)
}

// sendConfig sends a VM's own config and the host's clock in request
// (RequestApply, RequestReidentify).
func (c *Client) sendConfig(ctx context.Context, request, what string, cfg bootcfg.Config, now time.Time) error {
	if cfg.Hold {
		return fmt.Errorf("agentclient: %s: %w: the config is itself held", what, errdefs.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("agentclient: %s: %w", what, err)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("agentclient: %s: %w", what, err)
	}
	return c.call(ctx, request, proto.Marshal(proto.ApplyPayload{Config: raw, NowUnixNano: now.UnixNano()}), what,
		"the VM's guest agent is older than this banger; pull or import its image again")
}

// call sends a global request whose reply is success or the guest's
// error text. A refusal without text is an agent that does not know the
// request: ErrOldAgent, with unknown saying what that means and what to do.
func (c *Client) call(ctx context.Context, request string, payload []byte, what, unknown string) error {
	ok, msg, err := c.request(ctx, request, payload)
	if err != nil {
		return fmt.Errorf("agentclient: %s: %w", what, err)
	}
	if !ok {
		if len(msg) > 0 {
			return fmt.Errorf("agentclient: %s: the guest agent: %s: %w", what, msg, errdefs.ErrUnavailable)
		}
		return fmt.Errorf("agentclient: %s: %w: %s", what, ErrOldAgent, unknown)
	}
	return nil
}

// ErrOldAgent is a request the guest's agent does not know: it came with
// an image imported by an older banger.
var ErrOldAgent = fmt.Errorf("old guest agent: %w", errdefs.ErrUnsupported)

// Sync flushes the guest's file systems to its disks and returns once
// they are: what was written before is durable even if the VMM dies. An
// agent older than the sync request (an image imported by an older
// banger) runs the image's sync(1) as root instead.
func (c *Client) Sync(ctx context.Context) error {
	ok, _, err := c.request(ctx, proto.RequestSync, nil)
	if err != nil {
		return fmt.Errorf("agentclient: sync: %w", err)
	}
	if ok {
		return nil
	}
	var stderr bytes.Buffer
	code, err := c.Exec(ctx, ExecRequest{Argv: []string{"sync"}, User: "0", Stderr: &stderr})
	if err != nil {
		return fmt.Errorf("agentclient: sync: the agent is older than this banger and `sync` in the guest could not run: %w; pull or import the image again", errors.Join(err, errdefs.ErrUnsupported))
	}
	if code != 0 {
		return fmt.Errorf("agentclient: sync: the agent is older than this banger and `sync` in the guest failed (exit %d: %s): %w; pull or import the image again", code, strings.TrimSpace(stderr.String()), errdefs.ErrUnsupported)
	}
	return nil
}

// DialGuest opens a connection from inside the guest to addr: network
// "tcp" (direct-tcpip, e.g. "127.0.0.1:80") or "unix" (a socket path).
func (c *Client) DialGuest(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.client.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("agentclient: dial %s %s in the guest: %w", network, addr, err)
	}
	return conn, nil
}

// ParseConsoleExit finds the main process's exit status in a line of the
// guest's console log ("banger-agent: main exited status=N"), for when the
// channel is gone before the status arrived.
func ParseConsoleExit(line string) (status int, ok bool) {
	return proto.ParseMainExitLine(line)
}
