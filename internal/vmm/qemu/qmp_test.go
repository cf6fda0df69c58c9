package qemu

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// The QMP client against a real QEMU (no guest: -M none, stopped).
func TestQMPAgainstQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("runs qemu")
	}
	sock, done := qemuWithQMP(t, shortDir(t))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var q *qmpConn
	var err error
	for q == nil {
		if q, err = dialQMP(ctx, sock); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("dial QMP: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	defer func() { _ = q.Close() }()

	var st struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := q.execute("query-status", nil, &st); err != nil || st.Status != "prelaunch" || st.Running {
		t.Fatalf("query-status = %+v, %v; want prelaunch, not running", st, err)
	}
	var v struct {
		QEMU struct{ Major int } `json:"qemu"`
	}
	if err := q.execute("query-version", nil, &v); err != nil || v.QEMU.Major < 4 {
		t.Fatalf("query-version = %+v, %v", v, err)
	}
	err = q.execute("no-such-command", nil, nil)
	var qe *qmpError
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("unknown command: %v; want a CommandNotFound qmpError", err)
	}
	if err := q.execute("quit", nil, nil); err != nil {
		t.Fatalf("quit: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("qemu did not exit after quit")
	}
}

// qemuWithQMP starts a machine-less QEMU (-M none, stopped) with a QMP
// socket in dir and args added; done is closed when it exits.
func qemuWithQMP(t *testing.T, dir string, args ...string) (sock string, done <-chan struct{}) {
	t.Helper()
	bin := testutil.RequireQEMU(t)
	sock = filepath.Join(dir, "qmp.sock")
	cmd := exec.CommandContext(t.Context(), bin, append([]string{"-M", "none", "-S", "-nodefaults", "-display", "none",
		"-qmp", "unix:" + sock + ",server=on,wait=off"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	return sock, exited
}

// A server that is not QMP, or never greets, fails the dial within ctx.
func TestDialQMPRejects(t *testing.T) {
	tests := []struct {
		name  string
		greet string // "" sends nothing
		want  string
	}{
		{"not qmp", `{"hello": 1}` + "\n", "not a QMP server"},
		{"garbage", "SSH-2.0-x\n", "malformed"},
		{"silent", "", "greeting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := filepath.Join(shortDir(t), "s.sock")
			l, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = l.Close() }()
			go func() {
				c, err := l.Accept()
				if err != nil {
					return
				}
				defer func() { _ = c.Close() }()
				_, _ = c.Write([]byte(tt.greet))
				time.Sleep(2 * time.Second)
			}()
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			if _, err := dialQMP(ctx, sock); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("dialQMP = %v; want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// shortDir is a temp dir with a path short enough for unix sockets.
func shortDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "bgq-") //nolint:usetesting // t.TempDir can exceed sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
