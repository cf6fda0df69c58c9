package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vmlogs"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
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
	logs, err := api.Open(ctx, c, api.VMLogs, api.VMLogsQuery{Follow: true, Tail: &two, Console: true}, "down")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logs.Close() }()
	if got, err := io.ReadAll(logs); err != nil || string(got) != "two\nthree\n" {
		t.Fatalf("logs --console --tail 2 of a stopped VM: %q, %v", got, err)
	}

	// The kept main process output: frames per stream, --tail and
	// --timestamps; attach to a stopped VM is refused.
	f, err := vmlogs.OpenFile(filepath.Join(d.layout.VM("off1"), mainLogFile), vmlogs.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, l := range []string{"a\n", "b\n", "c\n"} {
		s := vmlogs.Stdout
		if i == 1 {
			s = vmlogs.Stderr
		}
		if err := f.Write(vmlogs.Entry{Stream: s, Time: at.Add(time.Duration(i) * time.Second), Data: []byte(l)}); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.Close()
	out, err := api.Open(ctx, c, api.VMLogs, api.VMLogsQuery{Follow: true, Tail: &two, Timestamps: true}, "down")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = out.Close() }()
	var got []string
	for {
		fr, err := api.ReadFrame(out)
		if err != nil {
			break
		}
		got = append(got, fmt.Sprintf("%d %s", fr.Kind, fr.Data))
	}
	want := []string{"2 2026-01-02T03:04:06Z b\n", "1 2026-01-02T03:04:07Z c\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("logs --tail 2 -t frames %q, want %q", got, want)
	}
	if _, err := api.Dial(ctx, c, api.AttachVM, api.AttachVMQuery{Logs: true}, "down"); !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("attach to a stopped VM: %v, want a conflict", err)
	}
}
