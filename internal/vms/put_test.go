package vms

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/bangerdev/banger/internal/hostnet"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func putSpec() Spec {
	return Spec{Image: "busybox", Cmd: []string{"sleep", "1000"}, Labels: map[string]string{"pod": "p1", "team": "web"},
		Ports: []hostnet.Port{{HostPort: 8080, GuestPort: 80, Protocol: "tcp"}}}
}

// A put of a new name creates the VM; the same put again answers that VM
// (not a second one), even with its lists empty instead of missing and
// the defaults spelled out: both are compared as recorded.
func TestPutIsIdempotent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, err := f.s.Put(ctx, "web", putSpec())
	if err != nil {
		t.Fatal(err)
	}
	if first.Name != "web" || first.State != Created {
		t.Fatalf("put made %+v, want a created VM named web", first)
	}
	again := putSpec()
	again.Env, again.Tmpfs = []string{}, []string{}
	for name, sp := range map[string]Spec{"the same spec": putSpec(), "empty lists": again} {
		got, err := f.s.Put(ctx, "web", sp)
		if err != nil || got.ID != first.ID {
			t.Errorf("put of %s: %s, %v; want the existing VM %s", name, got.ID, err, first.ID)
		}
	}
	withDefault := putSpec()
	withDefault.CPUs = f.s.VM.CPUs // what Create filled in
	if got, err := f.s.Put(ctx, "web", withDefault); err != nil || got.ID != first.ID {
		t.Errorf("put with the default CPUs spelled out: %v", err)
	}
	if l, _ := f.s.List(true); len(l) != 1 {
		t.Errorf("%d VMs after three puts, want 1", len(l))
	}
}

// A put of an existing name with another spec is a conflict that names
// each field that differs, both values, and what to do; nothing changes.
func TestPutConflictNamesTheFields(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.s.Put(ctx, "web", putSpec()); err != nil {
		t.Fatal(err)
	}
	other := putSpec()
	other.CPUs, other.Labels = 3, map[string]string{"pod": "p2"}
	_, err := f.s.Put(ctx, "web", other)
	if !errors.Is(err, errdefs.ErrConflict) {
		t.Fatalf("put with another spec: %v, want ErrConflict", err)
	}
	for _, want := range []string{"cpus: ", "≠ 3", `labels: {"pod":"p1","team":"web"} ≠ {"pod":"p2"}`, "banger rm -f web"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("conflict %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "image") || strings.Contains(err.Error(), "ports") {
		t.Errorf("conflict %q names fields that are the same", err)
	}
	// A VM made by create (not put) is compared the same way.
	f.create("db")
	if _, err := f.s.Put(ctx, "db", Spec{Image: "busybox", Cmd: []string{"sleep", "1000"}}); err != nil {
		t.Errorf("put of create's spec: %v", err)
	}
	if _, err := f.s.Put(ctx, "db", Spec{Image: "busybox"}); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "cmd: ") {
		t.Errorf("put without create's cmd: %v", err)
	}
	if _, err := f.s.Put(ctx, "a/b", putSpec()); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("put of a bad name: %v", err)
	}
}

// Concurrent puts of one name create one VM, and every caller gets it.
func TestConcurrentPutsCreateOneVM(t *testing.T) {
	f := newFixture(t)
	const n = 8
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			vm, err := f.s.Put(context.Background(), "race", putSpec())
			ids[i], errs[i] = vm.ID, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("put %d: %s, %v; want %s", i, ids[i], errs[i], ids[0])
		}
	}
	if l, _ := f.s.List(true); len(l) != 1 {
		t.Errorf("%d VMs after %d concurrent puts, want 1", len(l), n)
	}
}
