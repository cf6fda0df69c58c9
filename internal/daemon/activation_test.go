package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
)

// serviceRoot is a daemon root as a service manager would find it: a
// short path (socket paths), a config of its own (no socket group, a
// network no other daemon uses, no KVM probe), the banger binary.
type serviceRoot struct {
	root, config, banger string
	layout               paths.Layout
	log                  lockedBuffer
}

func newServiceRoot(t *testing.T) *serviceRoot {
	t.Helper()
	banger := testutil.BuildBinary(t, "./cmd/banger")
	root, err := os.MkdirTemp("", "bgsvc") //nolint:usetesting // short socket paths
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	cfg := testutil.Config("", "bgs", "bangersvc_", 216)
	cfg.QEMU.Accel = "tcg"
	sr := &serviceRoot{root: root, config: filepath.Join(root, "config.toml"), banger: banger, layout: paths.Rooted(root)}
	if err := testutil.WriteConfig(sr.config, cfg); err != nil {
		t.Fatal(err)
	}
	return sr
}

// daemonArgs is `banger daemon` on the root.
func (sr *serviceRoot) daemonArgs() []string {
	return []string{sr.banger, "daemon", "--root", sr.root, "--config", sr.config, "--log-level", "debug"}
}

// start runs argv (a daemon, or a launcher that becomes one) with the
// test's environment plus env and the extra descriptors from 3 on; it is
// stopped by SIGTERM when the test ends unless the test waits for it.
func (sr *serviceRoot) start(t *testing.T, argv, env []string, extra ...*os.File) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...) //nolint:noctx // the daemon outlives any one call
	cmd.Env = append(os.Environ(), env...)
	cmd.ExtraFiles = extra
	cmd.Stdout, cmd.Stderr = &sr.log, &sr.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	})
	return cmd
}

// info runs `banger info --format json` against sock, once, and returns
// the daemon's pid.
func (sr *serviceRoot) info(t *testing.T, sock string) (pid int, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, sr.banger, "--host", "unix://"+sock, "info", "--format", "json").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("banger info: %w: %s", err, out)
	}
	var got struct {
		Daemon struct {
			PID int `json:"pid"`
		} `json:"daemon"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		return 0, fmt.Errorf("banger info: %w: %s", err, out)
	}
	return got.Daemon.PID, nil
}

// stop SIGTERMs the daemon and waits for it, bounded.
func stop(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exited: %v", err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("the daemon did not stop within 20s of SIGTERM")
	}
}

// unixListener listens on path and returns its descriptor as a file for
// a child (the listener itself is closed, the socket stays).
func unixListener(t *testing.T, path string) *os.File {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	f, err := ul.File()
	_ = l.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// inode is the socket file's inode: a daemon that made its own socket
// would have replaced it.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("socket %s: %v", path, err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// cmdline is process pid's /proc cmdline (NUL-separated).
func cmdline(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// inheritableSockets lists the sockets process pid holds without
// close-on-exec (from descriptor 3 on): what a VMM it starts would get.
func inheritableSockets(t *testing.T, pid int) []string {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	ents, err := os.ReadDir(dir + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		target, _ := os.Readlink(dir + "/fd/" + e.Name())
		info, err := os.ReadFile(dir + "/fdinfo/" + e.Name())
		if fd < 3 || err != nil || !strings.HasPrefix(target, "socket:") {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				if flags&syscall.O_CLOEXEC == 0 {
					out = append(out, e.Name()+" -> "+target)
				}
			}
		}
	}
	return out
}

// TestDaemonServesThePassedSocket: the test is the service manager. It
// binds a socket, passes it as descriptor 3 with LISTEN_FDS (LISTEN_PID
// set by the shell that execs the daemon, so it is the daemon's pid), and
// the daemon answers `banger info` on it, holds it close-on-exec (a VMM
// does not inherit the API socket), and made no socket of its own; SIGTERM
// leaves the manager's socket file in place.
func TestDaemonServesThePassedSocket(t *testing.T) {
	sr := newServiceRoot(t)
	passed := filepath.Join(sr.root, "passed.sock")
	f := unixListener(t, passed)
	before := inode(t, passed)
	argv := append([]string{"sh", "-c", `export LISTEN_PID=$$; exec "$@"`, "sh"}, sr.daemonArgs()...)
	cmd := sr.start(t, argv, []string{"LISTEN_FDS=1", "LISTEN_FDNAMES=banger.socket"}, f)
	pid, err := sr.info(t, passed) // waits in the socket's backlog until the daemon serves
	if err != nil {
		t.Fatalf("%v\ndaemon log:\n%s", err, sr.log.String())
	}
	if pid != cmd.Process.Pid {
		t.Fatalf("answered by pid %d, the daemon is %d", pid, cmd.Process.Pid)
	}
	if _, err := os.Stat(sr.layout.Socket); err == nil {
		t.Errorf("the daemon made its own socket %s as well", sr.layout.Socket)
	}
	if got := inode(t, passed); got != before {
		t.Errorf("the passed socket file was replaced (inode %d, was %d)", got, before)
	}
	if inh := inheritableSockets(t, pid); len(inh) > 0 {
		t.Errorf("sockets a VMM would inherit: %v", inh)
	}
	if !strings.Contains(sr.log.String(), `name=banger.socket`) {
		t.Errorf("the daemon did not log the activation by name:\n%s", sr.log.String())
	}
	stop(t, cmd)
	if _, err := os.Stat(passed); err != nil {
		t.Errorf("the daemon removed the manager's socket on stop: %v", err)
	}
}

// TestDaemonActivatedBySystemdSocketActivate: a real socket-activated
// launch. systemd-socket-activate (Debian's systemd package) binds the
// daemon's socket and starts nothing until a client connects; the first
// `banger info` is what wakes it, and that same request is answered, by
// the daemon systemd-socket-activate became (it execs in place), on the
// socket it bound.
func TestDaemonActivatedBySystemdSocketActivate(t *testing.T) {
	activate := testutil.RequireBinary(t, "systemd-socket-activate", "systemd")
	sr := newServiceRoot(t)
	sock := sr.layout.Socket // as banger.socket: the daemon's own path
	if err := os.MkdirAll(filepath.Dir(sock), 0o711); err != nil {
		t.Fatal(err)
	}
	cmd := sr.start(t, append([]string{activate, "--listen=" + sock, "--fdname=banger.socket"}, sr.daemonArgs()...), nil)
	var before uint64
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			before = inode(t, sock)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate did not bind %s:\n%s", sock, sr.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // no client yet: nothing may start
	if strings.Contains(sr.log.String(), "daemon ready") {
		t.Fatalf("the daemon started before any client connected:\n%s", sr.log.String())
	}
	// Nor may it have begun: the process is still systemd-socket-activate,
	// not yet exec'd into the daemon.
	if argv0, _, _ := strings.Cut(cmdline(t, cmd.Process.Pid), "\x00"); argv0 != activate {
		t.Fatalf("before any client connected, the process runs %q, not %s", argv0, activate)
	}
	pid, err := sr.info(t, sock)
	if err != nil {
		t.Fatalf("the waking request was not answered: %v\nlog:\n%s", err, sr.log.String())
	}
	if pid != cmd.Process.Pid {
		t.Errorf("answered by pid %d; systemd-socket-activate (%d) should have become the daemon", pid, cmd.Process.Pid)
	}
	if got := inode(t, sock); got != before {
		t.Errorf("the daemon replaced the activated socket (inode %d, was %d)", got, before)
	}
	if log := sr.log.String(); !strings.Contains(log, "activated=true") || strings.Count(log, "daemon ready") != 1 {
		t.Errorf("the daemon did not serve the activated socket once:\n%s", log)
	}
	stop(t, cmd)
}

// TestDaemonNotifiesReadyOnceServing: with NOTIFY_SOCKET set (a
// datagram socket the test listens on, as systemd does for Type=notify),
// the daemon says what it is doing while it starts, then READY=1 — and at
// that moment its socket, which it makes itself here, answers a single
// request without retrying; on SIGTERM it says STOPPING=1.
func TestDaemonNotifiesReadyOnceServing(t *testing.T) {
	sr := newServiceRoot(t)
	notifyPath := filepath.Join(sr.root, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = nc.Close() }()
	cmd := sr.start(t, sr.daemonArgs(), []string{"NOTIFY_SOCKET=" + notifyPath})
	next := func() string {
		_ = nc.SetReadDeadline(time.Now().Add(60 * time.Second))
		b := make([]byte, 4096)
		n, err := nc.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v\ndaemon log:\n%s", err, sr.log.String())
		}
		return string(b[:n])
	}
	var msgs []string
	for {
		m := next()
		msgs = append(msgs, m)
		if strings.Contains(m, "READY=1") {
			break
		}
	}
	// READY=1 has arrived: the socket must answer now, at the first try.
	pid, err := sr.info(t, sr.layout.Socket)
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("READY=1 came before the daemon answered: pid %d, %v\nnotifications %q", pid, err, msgs)
	}
	if len(msgs) < 2 || !strings.Contains(msgs[0], "STATUS=starting") {
		t.Errorf("no starting status before READY=1: %q", msgs)
	}
	if ready := msgs[len(msgs)-1]; !strings.Contains(ready, "STATUS=serving "+sr.layout.Socket+"; 0 VMs running") {
		t.Errorf("READY=1 without the serving status: %q", ready)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if m := next(); !strings.HasPrefix(m, "STOPPING=1\n") {
		t.Errorf("after SIGTERM: %q, want STOPPING=1", m)
	}
	stop(t, cmd)
}
