package vms

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/pkg/errdefs"
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

func TestGetResolvesIDsNamesAndPrefixes(t *testing.T) {
	d := &Service{Deps: Deps{Store: testStore(t)}}
	for _, vm := range []VM{{ID: "aaaa11112222", Name: "dev"}, {ID: "aaaa33334444", Name: "web"}, {ID: "bbbb55556666", Name: "db"}} {
		if err := d.Store.Put(store.VMs, vm.ID, vm); err != nil {
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
		vm, err := d.Get(tt.ref)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Get(%q): err %v, want %v", tt.ref, err, tt.err)
			}
			continue
		}
		if err != nil || vm.Name != tt.want {
			t.Errorf("Get(%q) = %q, %v; want %q", tt.ref, vm.Name, err, tt.want)
		}
	}
}

func TestCompleteSpec(t *testing.T) {
	d := &Service{Deps: Deps{VM: config.Default().VM}}
	s, err := d.completeSpec(Spec{Image: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUs != 1 || s.MemoryMiB != 512 || s.VMM != "auto" || s.DiskBytes != 8<<30 {
		t.Errorf("defaults not applied: %+v", s)
	}
	_, err = d.completeSpec(Spec{CPUs: 999, MemoryMiB: 8, VMM: "xen", Network: "host", Env: []string{"NOEQUALS"}, Tmpfs: []string{"relative", "/", "/ok:size=1m", "/x:a b"}})
	for _, want := range []string{"no image", "cpus 999", "memory 8MiB", `vmm "xen"`, `network "host"`, `env "NOEQUALS"`, `--tmpfs "relative"`, `--tmpfs "/"`, `--tmpfs "/x:a b"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("completeSpec error %v lacks %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "/ok") {
		t.Errorf("a valid --tmpfs was refused: %v", err)
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
	if e, ok := exitFromConsole(lines); !ok || e.Status != 7 {
		t.Errorf("exitFromConsole = %+v, %v", e, ok)
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
