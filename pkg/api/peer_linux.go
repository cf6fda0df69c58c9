package api

import (
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerCred reads SO_PEERCRED and SO_PEERGROUPS from a unix socket
// connection.
func peerCred(c net.Conn) (Peer, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, false
	}
	var cred *unix.Ucred
	var groups []int
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		groups, _ = peerGroups(int(fd))
	}); err != nil || cerr != nil {
		return Peer{}, false
	}
	return Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid), Groups: groups}, true
}

// peerGroups reads SO_PEERGROUPS: the peer's supplementary groups as the
// kernel recorded them at connect(2) (Linux 4.13 and later). A buffer too
// small gets ERANGE and the size needed.
func peerGroups(fd int) ([]int, error) {
	n := 64
	for range 3 {
		buf := make([]uint32, n)
		size := uint32(4 * n) //nolint:gosec // n is small
		//nolint:gosec // getsockopt's buffer and length, as x/sys passes them; it has no SO_PEERGROUPS helper
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		if errno == unix.ERANGE && int(size/4) > n {
			n = int(size / 4)
			continue
		}
		if errno != 0 {
			return nil, errno
		}
		out := make([]int, 0, size/4)
		for _, g := range buf[:size/4] {
			out = append(out, int(g))
		}
		return out, nil
	}
	return nil, errors.New("SO_PEERGROUPS: the group list kept growing")
}
