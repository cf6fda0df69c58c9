package containerdrun

import (
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestKillShims: the processes naming the containerd's socket among
// their arguments are killed, and one naming another socket is not.
func TestKillShims(t *testing.T) {
	dir := t.TempDir()
	c := &Containerd{Sock: filepath.Join(dir, "containerd.sock")}
	start := func(sock string) *exec.Cmd {
		// sh's $0 is the socket: a stand-in for a shim's -address SOCK.
		cmd := exec.CommandContext(t.Context(), "sh", "-c", "sleep 60", sock)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	mine, other := start(c.Sock), start(filepath.Join(dir, "other.sock"))
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	c.killShims()
	done := make(chan error, 1)
	go func() { done <- mine.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the shim exited by itself, not killed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the shim naming the socket is still running")
	}
	if other.ProcessState != nil || other.Process.Signal(syscall.Signal(0)) != nil {
		t.Error("a process naming another socket was killed")
	}
}
