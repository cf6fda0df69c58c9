package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// startActivated runs the daemon as banger.socket does: systemd-socket-
// activate binds the daemon's socket and starts nothing until a client
// connects, then execs the daemon in its place with the socket passed
// (LISTEN_FDS). It returns once the socket is bound; the next CLI call is
// what starts the daemon.
func (pd *procDaemon) startActivated(t *testing.T) {
	t.Helper()
	activate := testutil.RequireBinary(t, "systemd-socket-activate", "systemd")
	// A socket file the last daemon's manager left: systemd unlinks it
	// before it binds again, systemd-socket-activate does not.
	if err := os.Remove(pd.sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	pd.launch(t, activate, "--listen="+pd.sock, "--fdname=banger.socket")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(pd.sock); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate did not bind %s", pd.sock)
		}
	}
}

// TestServiceRestartKeepsVMs: banger as a socket-activated service. The
// request that wakes the daemon starts a VM; stopping the daemon as
// systemd does with KillMode=process (SIGTERM to the daemon alone) leaves
// the VMM running; the next activation's first request, an exec, is
// answered by a daemon that adopted the same VMM.
func TestServiceRestartKeepsVMs(t *testing.T) {
	f := env(t)
	pd := newProcDaemon(t, f)
	pd.stop()

	pd.startActivated(t)
	id := strings.TrimSpace(pd.run(t, "run", "-d", "--name", "svc", "busybox"))
	before := pidsOf(id)
	if len(before) != 1 {
		t.Fatalf("VMM processes of %s: %v", id, before)
	}
	pd.stop() // systemctl restart banger: SIGTERM to the daemon only
	if after := pidsOf(id); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("the VM must outlive its daemon: VMM %v before, %v after", before, after)
	}

	pd.startActivated(t)
	if out := pd.run(t, "exec", "svc", "--", "echo", "adopted"); out != "adopted\n" {
		t.Fatalf("exec through the re-activated daemon: %q", out)
	}
	if after := pidsOf(id); len(after) != 1 || after[0] != before[0] {
		t.Fatalf("adoption must keep the same VMM: %v before, %v after", before, after)
	}
	logb, _ := os.ReadFile(filepath.Join(pd.root, "daemon.log"))
	if n := strings.Count(string(logb), "activated=true"); n != 2 {
		t.Errorf("%d socket-activated daemons served, want 2:\n%s", n, lastBytes(logb, 3000))
	}
	pd.run(t, "rm", "-f", "svc")
}
