package cgroup

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestReserveAndPlan(t *testing.T) {
	for avail, want := range map[uint64]uint64{80 << 20: 16 << 20, 512 << 20: 64 << 20, 8 << 30: 256 << 20} {
		if got := Reserve(avail); got != want {
			t.Errorf("Reserve(%d MiB) = %d MiB, want %d", avail>>20, got>>20, want>>20)
		}
	}
	dir, writes := Plan("/sys/fs/cgroup", 512<<20)
	want := []Write{
		{"/sys/fs/cgroup/cgroup.subtree_control", "+memory +pids"},
		{"/sys/fs/cgroup/banger-main/memory.max", "469762048"},
		{"/sys/fs/cgroup/banger-main/memory.oom.group", "1"},
	}
	if dir != "/sys/fs/cgroup/banger-main" || !reflect.DeepEqual(writes, want) {
		t.Fatalf("plan %s %q", dir, writes)
	}
}

// Setup on a directory standing in for cgroupfs writes the plan; a guest
// without /proc/meminfo's MemTotal (or without cgroup2) is an error the
// agent reports and runs without a group.
func TestSetup(t *testing.T) {
	root := t.TempDir()
	meminfo := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(meminfo, []byte("MemTotal:  262144 kB\nMemFree:  1 kB\nMemAvailable:  131072 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Setup(root, meminfo)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	if b, _ := os.ReadFile(filepath.Join(root, Name, "memory.max")); string(b) != "117440512" {
		t.Errorf("memory.max = %q, want the 128 MiB available - 16 MiB", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "cgroup.subtree_control")); string(b) != "+memory +pids" {
		t.Errorf("subtree_control = %q", b)
	}
	if err := os.WriteFile(meminfo, []byte("nothing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Setup(root, meminfo); err == nil {
		t.Error("a meminfo without MemTotal: no error")
	}
	if _, err := Setup(filepath.Join(root, "absent"), "/proc/meminfo"); err == nil {
		t.Error("no cgroup root: no error")
	}
}
