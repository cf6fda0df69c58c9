package containerdrun

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/procfs"
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

// TestShimPids: of the processes naming the containerd's socket, the
// shims (by their binary's name) serving the id are answered; a ctr
// naming the id and a shim of another id are not.
func TestShimPids(t *testing.T) {
	dir := t.TempDir()
	c := &Containerd{Sock: filepath.Join(dir, "containerd.sock")}
	shim := filepath.Join(dir, "containerd-shim-banger-v2")
	if err := os.Symlink("/bin/sh", shim); err != nil {
		t.Fatal(err)
	}
	start := func(bin string, args ...string) int {
		// sh -c SCRIPT ARGS...: the arguments stay in its cmdline, as a
		// shim's -address SOCK -id ID do.
		cmd := exec.CommandContext(t.Context(), bin, append([]string{"-c", "sleep 60; exit 0"}, args...)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd.Process.Pid
	}
	want := start(shim, "-id", "c1", "-address", c.Sock)
	start(shim, "-id", "c2", "-address", c.Sock)
	start("sh", "ctr", "--address", c.Sock, "run", "img", "c1")
	start(shim, "-id", "c1", "-address", filepath.Join(dir, "other.sock"))
	if got := c.ShimPids("c1"); !slices.Equal(got, []int{want}) {
		t.Errorf("ShimPids(c1) = %v, want [%d]", got, want)
	}
}

// TestMountsUnder: Stop unmounts what is mounted below the containerd's
// directory, deepest first (a pod's shm inside its sandbox directory
// before anything holding it), and nothing outside it or the directory
// itself.
func TestMountsUnder(t *testing.T) {
	mounts := []procfs.MountInfo{
		{Point: "/"},
		{Point: "/tmp/bgctrd1"},
		{Point: "/tmp/bgctrd1/state/io.containerd.runtime.v2.task/k8s.io/c1/rootfs"},
		{Point: "/tmp/bgctrd1/state/io.containerd.grpc.v1.cri/sandboxes/p1/shm"},
		{Point: "/tmp/bgctrd10/state/x"},
		{Point: "/tmp/bgctrd1/state"},
	}
	want := []string{
		"/tmp/bgctrd1/state/io.containerd.runtime.v2.task/k8s.io/c1/rootfs",
		"/tmp/bgctrd1/state/io.containerd.grpc.v1.cri/sandboxes/p1/shm",
		"/tmp/bgctrd1/state",
	}
	if got := mountsUnder(mounts, "/tmp/bgctrd1"); !slices.Equal(got, want) {
		t.Errorf("mountsUnder: %v, want %v", got, want)
	}
}
