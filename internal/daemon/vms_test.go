package daemon

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/errdefs"
	"github.com/bangerdev/banger/internal/handles"
	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/internal/rootfs"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmm"
)

func testStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestResolveVM(t *testing.T) {
	d := &Daemon{store: testStore(t)}
	for _, vm := range []api.VM{{ID: "aaaa11112222", Name: "dev"}, {ID: "aaaa33334444", Name: "web"}, {ID: "bbbb55556666", Name: "db"}} {
		if err := d.saveVM(vm); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ref, want string
		err       error
	}{
		{"aaaa11112222", "dev", nil},
		{"web", "web", nil},
		{"bbb", "db", nil},
		{"aaaa1", "dev", nil},
		{"aaaa", "", errdefs.ErrInvalid}, // ambiguous prefix
		{"aa", "", errdefs.ErrNotFound},  // too short to be a prefix
		{"nope", "", errdefs.ErrNotFound},
	}
	for _, tt := range tests {
		vm, err := d.resolveVM(tt.ref)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("resolveVM(%q): err %v, want %v", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil || vm.Name != tt.want {
			t.Errorf("resolveVM(%q) = %q, %v; want %q", tt.ref, vm.Name, err, tt.want)
		}
	}
}

func TestCompleteSpec(t *testing.T) {
	d := &Daemon{cfg: config.Default()}
	s, err := d.completeSpec(api.VMSpec{Image: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUs != 1 || s.MemoryMiB != 512 || s.VMM != "auto" {
		t.Errorf("defaults not applied: %+v", s)
	}
	_, err = d.completeSpec(api.VMSpec{CPUs: 999, MemoryMiB: 8, VMM: "xen", Network: "host", Env: []string{"NOEQUALS"}})
	for _, want := range []string{"no image", "cpus 999", "memory 8MiB", `vmm "xen"`, `network "host"`, `env "NOEQUALS"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("completeSpec error %v lacks %q", err, want)
		}
	}
	if !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("want ErrInvalid, got %v", err)
	}
}

func TestCheckVMName(t *testing.T) {
	for name, ok := range map[string]bool{"dev": true, "web-1.prod_a": true, "": false, "-x": false, "a b": false, "0123456789ab": false, strings.Repeat("a", 64): false} {
		if err := checkVMName(name); (err == nil) != ok {
			t.Errorf("checkVMName(%q) = %v", name, err)
		}
	}
}

func TestRuntimeMirrorAndPersistentPart(t *testing.T) {
	data := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	f := handles.File{Version: 1, VMID: "id", Resources: []handles.Resource{
		{Kind: handles.RuntimeDir, Name: "/run/banger/vms/id", Scope: handles.Runtime, State: handles.Created},
		{Kind: handles.Disk, Name: "/var/lib/banger/vms/id/disk.qcow2", Scope: handles.Persistent, State: handles.Created, Data: data(rootfs.Disk{Strategy: "qcow2"})},
		{Kind: handles.Lease, Name: "id", Scope: handles.Persistent, State: handles.Created, Data: data(hostnet.Resources{IP: "10.0.0.5", MAC: "02:00:00:00:00:05"})},
		{Kind: handles.Tap, Name: "bg-id", Scope: handles.Runtime, State: handles.Created},
		{Kind: handles.VMM, Name: "id", Scope: handles.Runtime, State: handles.Created, Data: data(vmm.Handles{Backend: "qemu", Accel: "tcg"})},
	}}
	rt := runtimeFrom(f, api.VMRuntime{})
	if rt.VMM != "qemu" || rt.Accel != "tcg" || rt.Tap != "bg-id" || rt.IP != "10.0.0.5" || rt.DiskStrategy != "qcow2" || rt.RuntimeDir == "" {
		t.Fatalf("runtimeFrom = %+v", rt)
	}
	rt.Handles = data(f)
	kept := keepPersistent(rt)
	if kept.VMM != "" || kept.Tap != "" || kept.RuntimeDir != "" {
		t.Errorf("runtime fields survived a stop: %+v", kept)
	}
	if kept.DiskPath == "" || kept.IP != "10.0.0.5" || kept.DiskStrategy != "qcow2" {
		t.Errorf("persistent fields lost: %+v", kept)
	}
	back := handlesOf(kept)
	if len(back.Resources) != 2 || back.Find(handles.Disk) == nil || back.Find(handles.Lease) == nil {
		t.Errorf("persistent handles: %+v", back.Resources)
	}
}

func TestConsoleParsing(t *testing.T) {
	lines := []string{
		"[    1.0] booting",
		"[    2.0] Kernel panic - not syncing: sysrq triggered crash",
		"[    2.1] CPU: 0 PID: 1",
		"banger-agent: main exited status=7",
	}
	if i, l := panicLine(lines); i != 1 || l != "Kernel panic - not syncing: sysrq triggered crash" {
		t.Errorf("panicLine = %d %q", i, l)
	}
	if i, _ := panicLine(lines[2:]); i != -1 {
		t.Errorf("no panic: got index %d", i)
	}
	if code, ok := exitFromConsole(lines); !ok || code != 7 {
		t.Errorf("exitFromConsole = %d, %v", code, ok)
	}
	if _, ok := exitFromConsole(lines[:3]); ok {
		t.Error("exit code found where there is none")
	}
}

func TestConsoleTailAndSeek(t *testing.T) {
	p := filepath.Join(t.TempDir(), "console.log")
	var b strings.Builder
	for i := range 5000 {
		b.WriteString(strings.Repeat("x", i%7) + "line\r\n")
		if i%100 == 0 {
			b.WriteString("\n")
		}
	}
	b.WriteString("last one\n")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tail := consoleTail(p, 3)
	if len(tail) != 3 || tail[2] != "last one" || strings.HasSuffix(tail[1], "\r") {
		t.Errorf("consoleTail = %q", tail)
	}
	f, _ := os.Open(p)
	defer func() { _ = f.Close() }()
	seekToTail(f, 2)
	rest := make([]byte, 100)
	n, _ := f.Read(rest)
	if got := string(rest[:n]); got != "xxxxxxline\r\nlast one\n" && !strings.HasSuffix(got, "line\r\nlast one\n") || strings.Count(got, "\n") != 2 {
		t.Errorf("seekToTail(2) left %q", got)
	}
}
