package client

import (
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/internal/sshproxy"
	"github.com/bangerdev/banger/pkg/api"
)

// Session is one SSH connection to a running VM's guest agent through the
// daemon's front door (POST /v1/vms/{ref}/ssh): execs, copies and shells
// each open a channel on it, so many of them cost one handshake. Close it
// when done; what runs on it ends.
type Session struct {
	agent *agentclient.Client
}

// SessionOptions adjust OpenSession.
type SessionOptions struct {
	// Trace, when set, is called as the connection passes its steps:
	// "version" (the client's version handshake, once per Client),
	// "connect" (the upgrade), "info" (the daemon's host key asked, only
	// from an older daemon) and "handshake" (SSH's).
	Trace func(step string)
}

// OpenSession connects to a running VM's agent. The daemon proxy's host
// key is pinned from the upgrade's answer (or /v1/info), both on the same
// socket the client trusts; the client's key is throwaway, since access to
// the socket is the authorization.
func (c *Client) OpenSession(ctx context.Context, ref string, o SessionOptions) (*Session, error) {
	trace := o.Trace
	if trace == nil {
		trace = func(string) {}
	}
	if err := c.Handshake(ctx); err != nil {
		return nil, err
	}
	trace("version")
	conn, err := api.Dial(ctx, c.api, api.VMSSH, api.None{}, ref)
	if err != nil {
		return nil, err
	}
	trace("connect")
	// The upgrade's answer names the host key; a daemon from before it
	// did not, and /v1/info does.
	var hostKey ssh.PublicKey
	if line := api.UpgradeHeader(conn).Get(api.HeaderProxyHostKey); line != "" {
		hostKey, err = agentclient.ParsePublicKey(line)
	} else {
		hostKey, err = c.proxyHostKey(ctx)
		trace("info")
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	key, err := agentclient.NewClientKey()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	agent, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey, Signer: key.Signer, KeyExchanges: proxyKeyExchanges})
	trace("handshake")
	if err != nil {
		return nil, fmt.Errorf("vm %s: %w", ref, err)
	}
	return &Session{agent: agent}, nil
}

// proxyKeyExchanges is what the client offers the daemon's proxy: plain
// curve25519. The connection is the daemon's own unix socket, which only
// root and the banger group may open, and SSH there is a multiplexer;
// x/crypto's default first choice, the post-quantum hybrid
// (mlkem768x25519), cost every exec ~0.6 ms more of key generation and
// encapsulation in a fresh process. OpenSSH clients through ssh-config
// negotiate as they like: the proxy offers both.
var proxyKeyExchanges = []string{"curve25519-sha256"}

// proxyHostKey is the daemon's SSH host key, from /v1/info.
func (c *Client) proxyHostKey(ctx context.Context) (ssh.PublicKey, error) {
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	return agentclient.ParsePublicKey(info.ProxyHostKey)
}

// Close closes the connection; what runs on it ends.
func (s *Session) Close() error { return s.agent.Close() }

// CopyIn copies the host file or directory tree src into the guest at
// dst, like `cp -r` (into dst when it is a directory), keeping modes,
// times and symlinks. It returns once the guest synced the copy to its
// disk.
func (s *Session) CopyIn(ctx context.Context, src, dst string) error {
	return s.agent.CopyIn(ctx, src, dst)
}

// CopyOut copies the guest file or directory tree src to dst on the host,
// with CopyIn's rules. The guest is not trusted: nothing it sends is
// written outside dst, symlinks are never followed, and setuid and setgid
// bits are dropped.
func (s *Session) CopyOut(ctx context.Context, src, dst string) error {
	return s.agent.CopyOut(ctx, src, dst)
}

// GuestProcess is one process of the guest, as `banger top` lists it.
type GuestProcess struct {
	PID  int    `json:"pid"`
	PPID int    `json:"ppid"`
	UID  int    `json:"uid"`
	User string `json:"user,omitempty"`
	// State is stat's one-letter state (R, S, D, Z, ...).
	State    string `json:"state"`
	RSSBytes uint64 `json:"rss_bytes"`
	// CPUTicks is user+system CPU time in clock ticks (100 a second).
	CPUTicks uint64 `json:"cpu_ticks"`
	Threads  int    `json:"threads"`
	// Command is the argv, or the [comm] of a kernel thread.
	Command string `json:"command"`
}

// ErrOldAgent is wrapped when the VM's guest agent is older than the
// request (Processes); it wraps errdefs.ErrUnsupported.
var ErrOldAgent = agentclient.ErrOldAgent

// Processes lists the guest's processes, read by the agent from the
// guest's /proc (no ps needed in the image).
func (s *Session) Processes(ctx context.Context) ([]GuestProcess, error) {
	procs, err := s.agent.Processes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]GuestProcess, len(procs))
	for i, p := range procs {
		out[i] = GuestProcess(p)
	}
	return out, nil
}

// Timings are the daemon proxy's durations of this connection's steps in
// milliseconds: "lookup" (the VM and its agent), "upgrade", "handshake",
// and the agent's answers as the proxy saw them, "open", "reply" and
// "exit". Nil from a daemon that does not report them.
func (s *Session) Timings() map[string]float64 {
	ok, b, err := s.agent.SSH().SendRequest(sshproxy.RequestTimings, true, nil)
	var steps map[string]float64
	if err != nil || !ok || json.Unmarshal(b, &steps) != nil {
		return nil
	}
	return steps
}

// MakeContainer makes the root of container id in a pod VM (one VM
// running a pod's containers): an overlay, writable in the guest's
// memory, over lower, the guest path of the container image's tree (a
// directory of the VM's shared directory, where the host mounted the
// image), with the guest's /proc, /sys, /dev and its resolv.conf, hosts
// and hostname. Exec with ExecConfig.Container = id then runs in it; the
// containers share the VM's network (localhost) and kernel. An agent
// without containers answers ErrOldAgent.
func (s *Session) MakeContainer(ctx context.Context, id, lower string) error {
	return s.agent.MakeContainer(ctx, id, lower)
}

// RemoveContainer unmounts and removes container id's root in a pod VM
// (its processes should have ended). An absent container is not an
// error.
func (s *Session) RemoveContainer(ctx context.Context, id string) error {
	return s.agent.RemoveContainer(ctx, id)
}
