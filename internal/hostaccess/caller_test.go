package hostaccess

import (
	"errors"
	"testing"

	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// TestCallerFromPeer: a request's peer is its caller; none is Unknown,
// which is not root.
func TestCallerFromPeer(t *testing.T) {
	for _, tt := range []struct {
		p          api.Peer
		ok         bool
		root, know bool
		str        string
	}{
		{api.Peer{UID: 1000, GID: 1000, Groups: []int{27}}, true, false, true, "uid 1000"},
		{api.Peer{}, true, true, true, "uid 0"},
		{api.Peer{}, false, false, false, "an unknown caller"},
	} {
		c := FromPeer(tt.p, tt.ok)
		if c.IsRoot() != tt.root || c.Known() != tt.know || c.String() != tt.str {
			t.Errorf("FromPeer(%+v, %v) = %+v: root %v known %v %q", tt.p, tt.ok, c, c.IsRoot(), c.Known(), c)
		}
	}
	if c := FromPeer(api.Peer{UID: 5, GID: 6, Groups: []int{7}}, true); c.GID != 6 || len(c.Groups) != 1 || c.Groups[0] != 7 {
		t.Errorf("groups lost: %+v", c)
	}
}

// TestDeniedErrorSaysWhatAndWhatToDo: the message names the path, the
// access, the uid and the way out, and the error is ErrPermission.
func TestDeniedErrorSaysWhatAndWhatToDo(t *testing.T) {
	err := error(&DeniedError{Path: "/etc", Caller: Caller{UID: 1000}, Want: Read | Write, Why: "no write (w) permission on it"})
	want := "uid 1000 may not use host path /etc for read and write access: no write (w) permission on it; " +
		"use a path you own and can reach yourself, or run the command as root"
	if err.Error() != want || !errors.Is(err, errdefs.ErrPermission) {
		t.Errorf("%q (permission %v); want %q", err, errors.Is(err, errdefs.ErrPermission), want)
	}
	for a, s := range map[Access]string{Read: "read", Write: "write", Read | Write: "read and write", 0: "no"} {
		if a.String() != s {
			t.Errorf("Access(%d) = %q, want %q", a, a, s)
		}
	}
}
