package daemon_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon"
	"github.com/bangerdev/banger/internal/hostsetup"
	"github.com/bangerdev/banger/internal/paths"
	"github.com/bangerdev/banger/internal/testutil"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSocketIsForTheGroupAndLogsTheCaller: the socket is 0660 root:banger;
// a process of another user in group banger is served, one outside the
// group is not let in, and the daemon's request log names each caller's
// uid (SO_PEERCRED).
func TestSocketIsForTheGroupAndLogsTheCaller(t *testing.T) {
	testutil.RequireRoot(t)
	setpriv := testutil.RequireBinary(t, "setpriv", "util-linux")
	gid := socketGroup(t)
	banger := testutil.BuildBinary(t, "./cmd/banger")

	root, err := os.MkdirTemp("", "bgsock") //nolint:usetesting // short socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o711); err != nil { // as /run is: others may traverse
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.QEMU.Accel = "tcg"
	var logs lockedBuffer
	d, err := daemon.New(daemon.Options{Layout: paths.Rooted(root), Config: cfg,
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		_ = d.Close()
	})
	sock := paths.Rooted(root).Socket
	for range 200 {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // chown and chmod follow the bind

	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o660 || st.Uid != 0 || int(st.Gid) != gid {
		t.Fatalf("socket %v owned %d:%d; want 0660 root:banger (%d)", fi.Mode(), st.Uid, st.Gid, gid)
	}
	as := func(egid int) (string, error) {
		cmd := exec.CommandContext(t.Context(), setpriv, "--reuid=65534", "--regid="+strconv.Itoa(egid), "--clear-groups", "--",
			banger, "--host", "unix://"+sock, "info", "--format", "json")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := as(gid); err != nil || !strings.Contains(out, `"state_dir"`) {
		ls, _ := exec.Command("ls", "-la", root, root+"/run").CombinedOutput()
		t.Errorf("uid 65534 in group banger: %v\n%s\n%s", err, out, ls)
	}
	if out, err := as(65534); err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("uid 65534 outside group banger was let in or told nothing useful: %v\n%s", err, out)
	}
	if !strings.Contains(logs.String(), "path=/v1/info") || !strings.Contains(logs.String(), "uid=65534") {
		t.Errorf("the request log does not name the caller's uid:\n%s", logs.String())
	}
}

// socketGroup makes group banger as banger setup does (root only) and
// returns its gid.
func socketGroup(t *testing.T) int {
	t.Helper()
	in := hostsetup.Inputs{SocketGroup: "banger"}
	if err := hostsetup.Run(t.Context(), hostsetup.Plan(in, hostsetup.Observe(in)), hostsetup.ExecRunner); err != nil {
		t.Fatalf("banger setup's group: %v", err)
	}
	grp, err := user.LookupGroup("banger")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(grp.Gid)
	return gid
}
