// Package systemd speaks the two service-manager protocols the daemon
// uses, without libsystemd: socket activation (sd_listen_fds(3): the
// variables LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, descriptors from 3
// on) and readiness notification (sd_notify(3): datagrams to
// $NOTIFY_SOCKET). Both are no-ops when the variables are absent, so a
// daemon started by hand behaves as it always did, and both take their
// variables out of the environment so that nothing the daemon starts (a
// VMM, virtiofsd) inherits a socket meant for the daemon alone.
package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// listenFDsStart is the first passed descriptor (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// The activation variables.
const (
	EnvListenPID     = "LISTEN_PID"
	EnvListenFDs     = "LISTEN_FDS"
	EnvListenFDNames = "LISTEN_FDNAMES"
)

// Listener is one socket the service manager passed, with its name
// (FileDescriptorName= in the socket unit; "" when none was given).
type Listener struct {
	net.Listener
	Name string
}

// Listeners returns the listening sockets the service manager passed this
// process, and unsets the activation variables whatever they said. None,
// and no error, when the process was not socket-activated or the
// variables were meant for another process (LISTEN_PID is not ours: a
// parent's, inherited). Every passed descriptor is made close-on-exec and
// must be a listening stream socket.
func Listeners() ([]Listener, error) {
	return listeners(os.Getenv, os.Getpid(), listenFDsStart)
}

// listeners is Listeners reading env, as process pid, with the
// descriptors from start on (tests pass descriptors they can place).
func listeners(env func(string) string, pid, start int) ([]Listener, error) {
	n, names, err := parseEnv(env(EnvListenPID), env(EnvListenFDs), env(EnvListenFDNames), pid)
	for _, k := range []string{EnvListenPID, EnvListenFDs, EnvListenFDNames} {
		_ = os.Unsetenv(k)
	}
	if err != nil || n == 0 {
		return nil, err
	}
	// Every passed descriptor is ours from here on: make each
	// close-on-exec before anything can fail, so no child inherits one.
	for fd := start; fd < start+n; fd++ {
		unix.CloseOnExec(fd)
	}
	var out []Listener
	for i := range n {
		l, err := listenerAt(start+i, names[i])
		if err != nil {
			for _, o := range out {
				_ = o.Close()
			}
			return nil, err
		}
		out = append(out, Listener{Listener: l, Name: names[i]})
	}
	return out, nil
}

// listenerAt takes over descriptor fd, which must be a listening stream
// socket, as a net.Listener.
func listenerAt(fd int, name string) (net.Listener, error) {
	what := fmt.Sprintf("passed descriptor %d (%q)", fd, name)
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return nil, fmt.Errorf("socket activation: %s: %w: not a socket", what, err)
	}
	acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil || typ != unix.SOCK_STREAM || acc != 1 {
		return nil, fmt.Errorf("socket activation: %s is not a listening stream socket: the socket unit needs ListenStream= (and Accept=no)", what)
	}
	f := os.NewFile(uintptr(fd), name)
	l, err := net.FileListener(f) // a dup of fd, close-on-exec
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("socket activation: %s: %w", what, err)
	}
	return l, nil
}

// maxFDs bounds LISTEN_FDS: a unit passing more is a mistake, and the
// bound keeps a garbled value from making the process touch every
// descriptor number.
const maxFDs = 64

// parseEnv reads the activation variables for process pid: how many
// descriptors were passed, and a name for each ("" when LISTEN_FDNAMES is
// unset). Zero when LISTEN_PID is unset or names another process.
func parseEnv(listenPID, listenFDs, fdNames string, pid int) (int, []string, error) {
	if listenPID == "" {
		return 0, nil, nil
	}
	p, err := strconv.Atoi(listenPID)
	if err != nil || p <= 0 {
		return 0, nil, fmt.Errorf("socket activation: %s=%q is not a process id", EnvListenPID, listenPID)
	}
	if p != pid {
		return 0, nil, nil
	}
	n, err := strconv.Atoi(listenFDs)
	if err != nil || n < 0 || n > maxFDs {
		return 0, nil, fmt.Errorf("socket activation: %s=%q: want a count from 0 to %d", EnvListenFDs, listenFDs, maxFDs)
	}
	names := make([]string, n)
	if fdNames != "" {
		given := strings.Split(fdNames, ":")
		if len(given) != n {
			return 0, nil, errors.New("socket activation: " + EnvListenFDNames + " names " + strconv.Itoa(len(given)) + " descriptors, " + EnvListenFDs + " says " + strconv.Itoa(n))
		}
		copy(names, given)
	}
	return n, names, nil
}
