//go:build linux

package nsrun_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/nsrun"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// Open refuses what is not a namespace file (a FIFO even behind a
// symlink, a device) before it could block on it or enter it, with the
// error kinds callers branch on.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	file, fifo := filepath.Join(dir, "file"), filepath.Join(dir, "fifo")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for path, kind := range map[string]error{
		filepath.Join(dir, "none"): errdefs.ErrNotFound,
		file:                       errdefs.ErrInvalid,
		fifo:                       errdefs.ErrInvalid, // and it returns: O_PATH opens nothing
		link:                       errdefs.ErrInvalid, // the FIFO behind a symlink too
		"/dev/null":                errdefs.ErrInvalid,
	} {
		done := make(chan error, 1)
		go func() { _, err := nsrun.Open(path); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, kind) || !strings.Contains(err.Error(), path) {
				t.Errorf("nsrun.Open(%s) = %v, want %v naming the path", path, err, kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("nsrun.Open(%s) blocks", path)
		}
	}
}

// Do runs the function inside the namespace, and no thread of the
// process stays there after; another kind of namespace is refused at
// setns, before the function runs.
func TestDo(t *testing.T) {
	testutil.RequireRoot(t)
	name := fmt.Sprintf("bgnr%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	ns, err := nsrun.Open("/var/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	host := inode(t, "/proc/self/ns/net")
	if ns.Inode == host || ns.Inode == 0 {
		t.Fatalf("namespace inode %d, host's %d", ns.Inode, host)
	}
	for range 20 {
		if err := ns.Do(func() error {
			if got := inode(t, "/proc/thread-self/ns/net"); got != ns.Inode {
				return fmt.Errorf("inside Do the thread is in %d, want %d", got, ns.Inode)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if got := inode(t, "/proc/self/task/"+task.Name()+"/ns/net"); got != host {
			t.Errorf("thread %s stayed in namespace %d", task.Name(), got)
		}
	}
	uts, err := nsrun.Open("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	defer uts.Close()
	ran := false
	if err := uts.Do(func() error { ran = true; return nil }); !errors.Is(err, errdefs.ErrInvalid) || ran {
		t.Errorf("Do in a UTS namespace: %v (ran %v), want ErrInvalid and fn not run", err, ran)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Error(err)
		return 0
	}
	return st.Sys().(*syscall.Stat_t).Ino
}
