package daemon

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/api"
	"github.com/bangerdev/banger/internal/store"
)

// TestHandlersReadTheTypedQueries: the typed query requests reach the
// services: ps lists running VMs, ps -a all, logs --tail the last lines.
func TestHandlersReadTheTypedQueries(t *testing.T) {
	d, c := serveDaemon(t)
	ctx := context.Background()
	for _, vm := range []api.VM{{ID: "run1", Name: "up", State: api.VMRunning}, {ID: "off1", Name: "down", State: api.VMExited}} {
		if err := d.store.Put(store.VMs, vm.ID, vm); err != nil {
			t.Fatal(err)
		}
	}
	if vms, err := api.Do(ctx, c, api.ListVMs, api.ListVMsQuery{}); err != nil || len(vms) != 1 || vms[0].Name != "up" {
		t.Fatalf("ps: %d VMs, %v", len(vms), err)
	}
	if vms, err := api.Do(ctx, c, api.ListVMs, api.ListVMsQuery{All: true}); err != nil || len(vms) != 2 {
		t.Fatalf("ps -a: %d VMs, %v", len(vms), err)
	}

	console := filepath.Join(d.layout.VM("off1"), "console.log")
	if err := os.MkdirAll(filepath.Dir(console), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(console, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	two := 2
	logs, err := api.Open(ctx, c, api.VMLogs, api.VMLogsQuery{Follow: true, Tail: &two}, "down")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logs.Close() }()
	if got, err := io.ReadAll(logs); err != nil || string(got) != "two\nthree\n" {
		t.Fatalf("logs --tail 2 of a stopped VM: %q, %v", got, err)
	}
}
