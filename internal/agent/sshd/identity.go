package sshd

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/bangerdev/banger/internal/agent/process"
)

// Identity is who the server is and whom it lets in: its host key, the
// keys that may connect and the defaults exec sessions start from. A
// connection keeps the identity it was accepted with; SetIdentity changes
// it for the connections made after it (a held boot's apply).
type Identity struct {
	HostKey        ssh.Signer
	AuthorizedKeys []ssh.PublicKey
	// Defaults are the main process's env, working dir and user: exec
	// sessions start from them (docker exec semantics).
	Defaults process.Spec
}

// connIdentity is an Identity ready to serve: the handshake's config and
// the defaults.
type connIdentity struct {
	config   *ssh.ServerConfig
	defaults process.Spec
}

func newConnIdentity(id Identity) (*connIdentity, error) {
	if id.HostKey == nil {
		return nil, errors.New("sshd: no host key")
	}
	if len(id.AuthorizedKeys) == 0 {
		return nil, errors.New("sshd: no authorized keys")
	}
	authorized := map[string]bool{}
	for _, k := range id.AuthorizedKeys {
		authorized[string(k.Marshal())] = true
	}
	config := &ssh.ServerConfig{
		ServerVersion: "SSH-2.0-banger-agent",
		MaxAuthTries:  6,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if authorized[string(key.Marshal())] {
				return &ssh.Permissions{}, nil
			}
			return nil, fmt.Errorf("key %s of %q is not authorized", ssh.FingerprintSHA256(key), meta.User())
		},
	}
	config.AddHostKey(id.HostKey)
	return &connIdentity{config: config, defaults: id.Defaults}, nil
}

// SetIdentity makes the connections accepted from now on use id; the
// ones already open keep theirs.
func (s *Server) SetIdentity(id Identity) error {
	ci, err := newConnIdentity(id)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.identity = ci
	s.mu.Unlock()
	return nil
}
