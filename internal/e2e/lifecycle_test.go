package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A detached VM ends with its main process, as a container does; one
// without a main process stays up until stopped.
func TestDetachedVMEndsWithItsMainProcess(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox", "--", "sh", "-c", "sleep 2; exit 3"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	done := make(chan string, 1)
	go func() { out, _, _ := f.cli(nil, "wait", id); done <- strings.TrimSpace(out) }()
	select {
	case got := <-done:
		if got != "3" {
			t.Fatalf("wait printed %q, want 3", got)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the VM outlived its main process")
	}
	if vm := f.inspect(t, id); vm.State != "exited" || vm.ExitCode == nil || *vm.ExitCode != 3 {
		t.Fatalf("state %s exit %v", vm.State, vm.ExitCode)
	}
}

// docker run -w makes a missing working directory; /tmp is on the VM's
// disk and keeps its files across a stop; --tmpfs mounts one where asked;
// --dns, --dns-search and --dns-option replace the network's resolv.conf.
func TestWorkdirTmpAndTmpfs(t *testing.T) {
	f := env(t)
	if out := f.must(t, "run", "--rm", "-w", "/new/dir", "busybox", "--", "pwd"); out != "/new/dir\n" {
		t.Errorf("run -w /new/dir pwd: %q", out)
	}
	out := f.must(t, "run", "--rm", "--tmpfs", "/scratch:size=8m", "--dns", "10.96.0.10", "--dns-search", "corp.test", "--dns-option", "ndots:3",
		"busybox", "--", "sh", "-c", "grep ' /scratch ' /proc/mounts; grep ' /tmp ' /proc/mounts; cat /etc/resolv.conf")
	if !strings.Contains(out, "tmpfs /scratch tmpfs") || !strings.Contains(out, "size=8192k") || strings.Contains(out, " /tmp ") {
		t.Errorf("--tmpfs /scratch, and /tmp on disk: mounts\n%s", out)
	}
	if !strings.Contains(out, "\nnameserver 10.96.0.10\nsearch corp.test\noptions ndots:3\n") || strings.Count(out, "nameserver") != 1 {
		t.Errorf("--dns, --dns-search, --dns-option: resolv.conf\n%s", out)
	}
	id := strings.TrimSpace(f.must(t, "run", "-d", "busybox"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	f.must(t, "exec", id, "--", "sh", "-c", "echo kept > /tmp/file")
	f.must(t, "stop", id)
	f.must(t, "start", id)
	if out := f.must(t, "exec", id, "--", "cat", "/tmp/file"); out != "kept\n" {
		t.Errorf("/tmp/file after stop and start: %q", out)
	}
}

// Every VM's disk has room by default (vm.disk, 8GiB, sparse); a guest
// that fills a small one gets ENOSPC and its command fails: the VM never
// hangs on it. A run that goes well says nothing of its own on stderr.
func TestDiskRoomAndFull(t *testing.T) {
	f := env(t)
	out, errOut, code := f.cli(nil, "run", "--rm", "busybox", "--", "df", "-k", "/")
	if code != 0 || errOut != "" {
		t.Fatalf("run: exit %d, stderr %q", code, errOut)
	}
	if size := dfSizeKiB(out); size < 7<<20 {
		t.Fatalf("the default disk holds a %d KiB file system, want about 8 GiB:\n%s", size, out)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, errOut, code = f.cli(nil, "run", "--rm", "--disk", "96M", "busybox", "--", "sh", "-c", "dd if=/dev/zero of=/fill bs=1M; echo dd=$?")
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("a VM whose disk filled up did not end")
	}
	if code != 0 || !strings.Contains(out+errOut, "No space left on device") || !strings.Contains(out, "dd=1") {
		t.Fatalf("filling the disk: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

// dfSizeKiB reads the size column of `df -k`'s second line.
func dfSizeKiB(out string) int64 {
	var size int64
	for _, l := range strings.Split(out, "\n")[1:] {
		if fields := strings.Fields(l); len(fields) >= 2 {
			_, _ = fmt.Sscan(fields[1], &size)
		}
	}
	return size
}

// A main process the guest's OOM killer ends: the record says so.
func TestOOMKillIsRecorded(t *testing.T) {
	f := env(t)
	id := strings.TrimSpace(f.must(t, "run", "-d", "--memory", "128M", "busybox", "--", "tail", "/dev/zero"))
	t.Cleanup(func() { f.cli(nil, "rm", "-f", id) })
	if got := strings.TrimSpace(f.must(t, "wait", id)); got != "137" {
		t.Fatalf("wait printed %q, want 137", got)
	}
	if vm := f.inspect(t, id); !vm.OOMKilled || vm.ExitSignal != "KILL" {
		t.Fatalf("oom_killed %v signal %q", vm.OOMKilled, vm.ExitSignal)
	}
}
