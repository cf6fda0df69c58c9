package daemon

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/handles"
)

// daemonKeys are the daemon's long-lived SSH identities, kept in the
// layout's keys directory (mode 0700).
type daemonKeys struct {
	// client authenticates the daemon to every guest agent.
	client ssh.Signer
	// proxy is the host key of the daemon's SSH front door (sshproxy).
	proxy ssh.Signer
}

func loadDaemonKeys(dir string) (daemonKeys, error) {
	client, err := loadOrCreateKey(filepath.Join(dir, "client_ed25519"))
	if err != nil {
		return daemonKeys{}, err
	}
	proxy, err := loadOrCreateKey(filepath.Join(dir, "proxy_host_ed25519"))
	if err != nil {
		return daemonKeys{}, err
	}
	return daemonKeys{client: client, proxy: proxy}, nil
}

// loadOrCreateKey reads an OpenSSH ed25519 private key, creating it (0600,
// atomically) when absent.
func loadOrCreateKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key %s: %w", path, err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("parse key %s: %w (remove it to have a new one generated)", path, err)
	}
	return s, nil
}

func createKey(path string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "banger")
	if err != nil {
		return nil, err
	}
	if err := handles.WriteAtomic(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("write key %s: %w", path, err)
	}
	return ssh.NewSignerFromKey(priv)
}
