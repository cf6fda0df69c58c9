package cli

import (
	"context"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agentclient"
	"github.com/bangerdev/banger/pkg/api"
)

// agent opens an SSH connection to a VM through the daemon's front door
// (POST /v1/vms/{ref}/ssh): the daemon proxies it onto the VM's agent. The
// daemon's host key is pinned from the upgrade's answer (or /v1/info),
// both on the same trusted socket; the client key is throwaway, since the
// socket is the authorization.
func (a *App) agent(ctx context.Context, ref string) (*agentclient.Client, error) {
	return a.agentTimed(ctx, ref, nil)
}

// agentTimed is agent marking its steps in times.
func (a *App) agentTimed(ctx context.Context, ref string, times *stepTimes) (*agentclient.Client, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	conn, err := api.Dial(ctx, c, api.VMSSH, api.None{}, ref)
	if err != nil {
		return nil, err
	}
	times.mark("connect")
	// The upgrade's answer names the host key; a daemon from before it
	// did not, and /v1/info does.
	var hostKey ssh.PublicKey
	if line := api.UpgradeHeader(conn).Get(api.HeaderProxyHostKey); line != "" {
		hostKey, err = agentclient.ParsePublicKey(line)
	} else {
		hostKey, err = a.proxyHostKey(ctx)
		times.mark("info")
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
	client, err := agentclient.Dial(ctx, conn, agentclient.Config{HostKey: hostKey, Signer: key.Signer, KeyExchanges: proxyKeyExchanges})
	times.mark("handshake")
	return client, err
}

// proxyKeyExchanges is what the CLI offers the daemon's proxy: plain
// curve25519. The connection is the daemon's own unix socket, which only
// root and the banger group may open, and SSH there is a multiplexer;
// x/crypto's default first choice, the post-quantum hybrid
// (mlkem768x25519), cost every exec ~0.6 ms more of key generation and
// encapsulation in a fresh process. OpenSSH clients through ssh-config
// negotiate as they like: the proxy offers both.
var proxyKeyExchanges = []string{"curve25519-sha256"}

func (a *App) proxyHostKey(ctx context.Context) (ssh.PublicKey, error) {
	c, err := a.Client()
	if err != nil {
		return nil, err
	}
	info, err := api.Do(ctx, c, api.GetInfo, api.None{})
	if err != nil {
		return nil, err
	}
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(info.ProxyHostKey))
	if err != nil {
		return nil, fmt.Errorf("daemon host key %q: %w", info.ProxyHostKey, err)
	}
	return key, nil
}
