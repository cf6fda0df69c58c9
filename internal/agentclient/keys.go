package agentclient

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Key is an ed25519 key pair: the agent's host key (one per VM, written
// into the boot config) or the daemon's client key (one per host).
type Key struct {
	Signer ssh.Signer
	// PEM is the private key in OpenSSH form (what bootcfg.SSH.HostKey and
	// key files hold).
	PEM []byte
}

// NewHostKey generates an agent host key on the host, so the guest needs
// no entropy for it (docs/architecture.md, "Traps measured on the build machines").
func NewHostKey() (Key, error) { return newKey("banger agent host key") }

// NewClientKey generates the daemon's client key.
func NewClientKey() (Key, error) { return newKey("banger daemon") }

func newKey(comment string) (Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, fmt.Errorf("agentclient: generate key: %w", err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return Key{}, fmt.Errorf("agentclient: marshal key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return Key{}, err
	}
	return Key{Signer: signer, PEM: pem.EncodeToMemory(blk)}, nil
}

// ParseKey parses a private key in OpenSSH PEM form.
func ParseKey(pemBytes []byte) (Key, error) {
	s, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return Key{}, fmt.Errorf("agentclient: parse key: %w", err)
	}
	return Key{Signer: s, PEM: pemBytes}, nil
}

// PublicKey returns the public half.
func (k Key) PublicKey() ssh.PublicKey { return k.Signer.PublicKey() }

// AuthorizedKey returns the public key as one authorized_keys line (what
// bootcfg.SSH.AuthorizedKeys holds), without the newline.
func (k Key) AuthorizedKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey())))
}

// LoadOrCreateKey reads the key at path, or creates it (0600, in a 0700
// directory) when there is none: the daemon's client key under
// paths.Layout.Keys().
func LoadOrCreateKey(path string) (Key, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return ParseKey(b)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Key{}, fmt.Errorf("agentclient: %w", err)
	}
	k, err := NewClientKey()
	if err != nil {
		return Key{}, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, fmt.Errorf("agentclient: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, k.PEM, 0o600); err != nil {
		return Key{}, fmt.Errorf("agentclient: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Key{}, fmt.Errorf("agentclient: %w", err)
	}
	return k, nil
}

// ParsePublicKey parses a public key in authorized_keys form (a pinned
// host key as the daemon stores it).
func ParsePublicKey(line string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("agentclient: parse public key: %w", err)
	}
	return k, nil
}

// KnownHostsLine returns an OpenSSH known_hosts line pinning key for host
// (the alias `banger ssh-config` writes, e.g. "dev.banger").
func KnownHostsLine(host string, key ssh.PublicKey) string {
	return knownhosts.Line([]string{host}, key)
}
