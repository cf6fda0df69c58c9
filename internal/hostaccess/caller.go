package hostaccess

import (
	"fmt"
	"strconv"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Caller is who asked, as the kernel reported it for the request's
// connection: whose access a host path is checked with.
type Caller struct {
	UID    int   `json:"uid"`
	GID    int   `json:"gid"`
	Groups []int `json:"groups,omitempty"`
}

// Unknown is the caller of a request without peer credentials: it may
// name no host path.
var Unknown = Caller{UID: -1, GID: -1}

// Root may name any host path (the daemon's own work, and uid 0's).
var Root = Caller{}

// FromPeer is the caller of a request whose context carried p (ok, as
// api.PeerOf returns them); Unknown without.
func FromPeer(p api.Peer, ok bool) Caller {
	if !ok {
		return Unknown
	}
	return Caller{UID: p.UID, GID: p.GID, Groups: p.Groups}
}

// IsRoot says c is uid 0.
func (c Caller) IsRoot() bool { return c.UID == 0 }

// Known says the request carried credentials.
func (c Caller) Known() bool { return c.UID >= 0 }

func (c Caller) String() string {
	if !c.Known() {
		return "an unknown caller"
	}
	return "uid " + strconv.Itoa(c.UID)
}

// Access is what a request does with a host path.
type Access uint8

// The accesses.
const (
	Read Access = 1 << iota
	Write
)

func (a Access) String() string {
	switch a {
	case Read:
		return "read"
	case Write:
		return "write"
	case Read | Write:
		return "read and write"
	}
	return "no"
}

// Kind is what the path is used as, which decides what is checked.
type Kind uint8

// The kinds.
const (
	// File is one file (a stdio path, a kernel to import): the access on
	// it, search on the way. A file to write that does not exist yet
	// needs write and search on its directory, where it is created.
	File Kind = iota
	// Tree is a directory whose whole tree is served or copied (a shared
	// directory, a directory image): a directory the caller owns, with
	// the access and search on it.
	Tree
	// Directory is a directory read as a whole by a file's reader (a
	// kernel's modules): the access and search on it, no owner rule.
	Directory
)

// DeniedError is a host path the caller may not use: which path, which
// access was missing, for whom, and what to do. It is
// errdefs.ErrPermission.
type DeniedError struct {
	Path   string
	Caller Caller
	// Want is the access asked for; Why what the kernel or the rule
	// refused.
	Want Access
	Why  string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%s may not use host path %s for %s access: %s; "+
		"use a path you own and can reach yourself, or run the command as root", e.Caller, e.Path, e.Want, e.Why)
}

// Unwrap makes it errdefs.ErrPermission.
func (e *DeniedError) Unwrap() error { return errdefs.ErrPermission }
