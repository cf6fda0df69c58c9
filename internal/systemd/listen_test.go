package systemd

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseEnv(t *testing.T) {
	const pid = 4242
	for _, tc := range []struct {
		name, listenPID, fds, names string
		want                        []string // nil: no descriptors
		err                         bool
	}{
		{name: "not activated"},
		{name: "another process's", listenPID: "17", fds: "1"},
		{name: "one", listenPID: "4242", fds: "1", want: []string{""}},
		{name: "named", listenPID: "4242", fds: "2", names: "banger.socket:extra", want: []string{"banger.socket", "extra"}},
		{name: "zero", listenPID: "4242", fds: "0"},
		{name: "pid garbage", listenPID: "x", fds: "1", err: true},
		{name: "pid negative", listenPID: "-1", fds: "1", err: true},
		{name: "fds garbage", listenPID: "4242", fds: "one", err: true},
		{name: "fds negative", listenPID: "4242", fds: "-2", err: true},
		{name: "fds huge", listenPID: "4242", fds: "100000", err: true},
		{name: "names miscounted", listenPID: "4242", fds: "2", names: "a", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, names, err := parseEnv(tc.listenPID, tc.fds, tc.names, pid)
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error: %v", err, tc.err)
			}
			if n != len(tc.want) || (n > 0 && !slices.Equal(names, tc.want)) {
				t.Fatalf("%d descriptors %q, want %q", n, names, tc.want)
			}
		})
	}
}

// passed places a new listening unix socket at descriptor fd (not
// close-on-exec, as a service manager passes it) and returns its path.
func passed(t *testing.T, fd int, network string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s"+strconv.Itoa(fd))
	var f *os.File
	if network == "unix" {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		ul := l.(*net.UnixListener)
		ul.SetUnlinkOnClose(false)
		f, err = ul.File()
		_ = l.Close() // the file keeps the socket
		if err != nil {
			t.Fatal(err)
		}
	} else {
		c, err := net.ListenPacket(network, path)
		if err != nil {
			t.Fatal(err)
		}
		f, err = c.(*net.UnixConn).File()
		_ = c.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Dup2(int(f.Fd()), fd); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	t.Cleanup(func() { _ = unix.Close(fd) })
	return path
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// TestListenersTakeThePassedSockets: two passed sockets come back as
// listeners under their names, accepting on their paths; the descriptors
// the manager passed are gone (the listeners hold close-on-exec dups)
// and the variables are out of the environment.
func TestListenersTakeThePassedSockets(t *testing.T) {
	const start = 200
	p0, p1 := passed(t, start, "unix"), passed(t, start+1, "unix")
	for k, v := range map[string]string{EnvListenPID: "1", EnvListenFDs: "2", EnvListenFDNames: "api:other"} {
		t.Setenv(k, v) // what a child would inherit unless they are unset
	}
	ls, err := listeners(env(map[string]string{EnvListenPID: "99", EnvListenFDs: "2", EnvListenFDNames: "api:other"}), 99, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Name != "api" || ls[1].Name != "other" {
		t.Fatalf("listeners %+v", ls)
	}
	for i, p := range []string{p0, p1} {
		defer func() { _ = ls[i].Close() }()
		if got := ls[i].Addr().String(); got != p {
			t.Errorf("listener %d at %s, want %s", i, got, p)
		}
		c, err := net.Dial("unix", p)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ls[i].Accept()
		if err != nil {
			t.Fatalf("accept on %s: %v", p, err)
		}
		_, _ = s.Close(), c.Close()
		if !cloexec(t, ls[i].Listener) {
			t.Errorf("listener %d is inherited by children (no FD_CLOEXEC)", i)
		}
	}
	for fd := start; fd < start+2; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
			t.Errorf("passed descriptor %d still open (%v): a child would inherit it", fd, err)
		}
	}
	for _, k := range []string{EnvListenPID, EnvListenFDs, EnvListenFDNames} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%s is still in the environment", k, v)
		}
	}
}

func cloexec(t *testing.T, l net.Listener) bool {
	t.Helper()
	rc, err := l.(*net.UnixListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	_ = rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFD, 0) })
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.FD_CLOEXEC != 0
}

// TestListenersIgnoreAnotherProcesssSockets: variables whose LISTEN_PID is
// not ours were inherited from a parent: the descriptors are left alone
// (not ours to close) and the variables still go.
func TestListenersIgnoreAnotherProcesssSockets(t *testing.T) {
	const fd = 210
	passed(t, fd, "unix")
	t.Setenv(EnvListenPID, "1")
	ls, err := listeners(env(map[string]string{EnvListenPID: "1", EnvListenFDs: "1"}), 99, fd)
	if err != nil || len(ls) != 0 {
		t.Fatalf("listeners %v, %v; want none", ls, err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		t.Errorf("descriptor %d was touched: %v", fd, err)
	}
	if _, ok := os.LookupEnv(EnvListenPID); ok {
		t.Error("LISTEN_PID is still in the environment")
	}
}

// TestListenersRefuseWhatIsNotAListener: a datagram socket (a unit with
// ListenDatagram=) and a closed descriptor fail with what is wrong.
func TestListenersRefuseWhatIsNotAListener(t *testing.T) {
	const fd = 220
	passed(t, fd, "unixgram")
	_, err := listeners(env(map[string]string{EnvListenPID: "99", EnvListenFDs: "1"}), 99, fd)
	if err == nil || !contains(err, "not a listening stream socket") {
		t.Fatalf("datagram socket: %v", err)
	}
	_, err = listeners(env(map[string]string{EnvListenPID: "99", EnvListenFDs: "1"}), 99, 230)
	if err == nil || !contains(err, "not a socket") {
		t.Fatalf("closed descriptor: %v", err)
	}
}

func contains(err error, s string) bool { return err != nil && strings.Contains(err.Error(), s) }

func FuzzParseEnv(f *testing.F) {
	f.Add("4242", "1", "")
	f.Add("4242", "3", "a:b:c")
	f.Add("1", "x", "::")
	f.Fuzz(func(t *testing.T, pid, fds, names string) {
		n, got, err := parseEnv(pid, fds, names, 4242)
		if err != nil {
			if n != 0 || got != nil {
				t.Fatalf("error %v with %d descriptors", err, n)
			}
			return
		}
		if n < 0 || n > maxFDs || len(got) != n {
			t.Fatalf("%d descriptors, %d names", n, len(got))
		}
		if p, _ := strconv.Atoi(pid); p != 4242 && n != 0 {
			t.Fatalf("LISTEN_PID %q is not ours but %d descriptors were taken", pid, n)
		}
	})
}
