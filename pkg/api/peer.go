package api

import (
	"context"
	"net"
)

// Peer is the process at the other end of the daemon's socket, as the
// kernel reports it (SO_PEERCRED): who made a request. The socket is mode
// 0660 and group-owned by the daemon's socket group, so the uid says which
// member of that group (or root) asked.
type Peer struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
	PID int `json:"pid"`
	// Groups are the caller's supplementary groups when it connected
	// (SO_PEERGROUPS, which the kernel records at connect(2) as it does
	// SO_PEERCRED: no race with a later change or a reused pid). Empty
	// when the kernel could not say: the caller then has fewer rights,
	// never more.
	Groups []int `json:"groups,omitempty"`
}

type peerKey struct{}

// WithPeer returns ctx carrying p.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerOf returns the peer a request's context carries.
func PeerOf(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// ConnContext is an http.Server's ConnContext for a unix socket listener:
// it reads the peer's credentials once per connection, so every request
// on it carries them (PeerOf) and its log line names the caller's uid.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if p, ok := peerCred(c); ok {
		return WithPeer(ctx, p)
	}
	return ctx
}
