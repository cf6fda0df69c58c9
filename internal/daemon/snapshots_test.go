package daemon_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/daemon/daemontest"
	"github.com/bangerdev/banger/internal/snapshots"
	"github.com/bangerdev/banger/pkg/api"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// saveSnapshot puts a snapshot into a daemon's store as a save would.
func saveSnapshot(t *testing.T, dir string, cpus int) snapshots.Snapshot {
	t.Helper()
	st, err := snapshots.New(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := snapshots.Key{
		Backend: "qemu", ImageDigest: "sha256:aa", AgentSHA256: "bb", KernelSHA256: "cc", CPUs: cpus, MemoryMiB: 256,
		Drives: []snapshots.Drive{{ID: "root", Root: true}, {ID: "config", ReadOnly: true}}, NICs: 1, Daemon: "SHA256:dd",
	}
	p, err := st.Prepare(k, snapshots.Origin{Image: "debian:bookworm", Kernel: "default", VM: "0123456789ab"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Create(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Spec().StatePath, []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	sn, err := p.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// The snapshot API over a real daemon: ls shows what a snapshot belongs
// to and that it is stale once its image and kernel are gone; the
// inventory and gc know the store; prune and rm remove.
func TestSnapshotAPI(t *testing.T) {
	td := daemontest.Start(t)
	ctx := context.Background()
	a := saveSnapshot(t, td.Layout.Snapshots(), 1)
	b := saveSnapshot(t, td.Layout.Snapshots(), 2)
	leftover := filepath.Join(td.Layout.Snapshots(), ".tmp-0123456789ab-000000000000")
	if err := os.Mkdir(leftover, 0o700); err != nil {
		t.Fatal(err)
	}

	list, err := api.Do(ctx, td.Client, api.ListSnapshots, api.None{})
	if err != nil || len(list) != 2 {
		t.Fatalf("ls = %+v, %v", list, err)
	}
	got := list[0]
	if got.ID != min(a.ID, b.ID) || got.Image != "debian:bookworm" || got.Kernel != "default" || got.VM != "0123456789ab" ||
		len(got.Drives) != 2 || got.Drives[0] != "root" || got.NICs != 1 || got.SizeBytes != 5 ||
		len(got.Files) != 1 || got.Files[0].Name != snapshots.StateFile || got.Files[0].SHA256 == "" || !got.Stale {
		t.Fatalf("ls[0] = %+v", got)
	}

	inv, err := api.Do(ctx, td.Client, api.Inventory, api.None{})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, o := range inv {
		kinds[o.Name] = o.Kind
	}
	if kinds[a.Dir] != snapshots.KindSnapshot || kinds[leftover] != snapshots.KindDir {
		t.Fatalf("inventory = %+v", inv)
	}
	rep, err := api.Do(ctx, td.Client, api.GC, api.GCQuery{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var orphans []string
	for _, o := range rep.Objects {
		if o.Kind == snapshots.KindDir || o.Kind == snapshots.KindSnapshot {
			orphans = append(orphans, o.Name)
		}
	}
	if len(orphans) != 1 || orphans[0] != leftover {
		t.Fatalf("gc --dry-run found %v, want only %s (snapshots are prune's)", orphans, leftover)
	}

	if _, err := api.Do(ctx, td.Client, api.RemoveSnapshot, api.None{}, "fffffffffff0"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("rm of an unknown snapshot = %v", err)
	}
	rm, err := api.Do(ctx, td.Client, api.RemoveSnapshot, api.None{}, a.ID[:6])
	if err != nil || rm.ID != a.ID {
		t.Fatalf("rm by prefix = %+v, %v", rm.ID, err)
	}
	pruned, err := api.Do(ctx, td.Client, api.PruneSnapshots, api.PruneSnapshotsRequest{})
	if err != nil || len(pruned) != 1 || pruned[0].ID != b.ID {
		t.Fatalf("prune = %+v, %v; want the stale %s", pruned, err, b.ID)
	}
	if list, err := api.Do(ctx, td.Client, api.ListSnapshots, api.None{}); err != nil || len(list) != 0 {
		t.Fatalf("ls after rm and prune = %+v, %v", list, err)
	}

	// A daemon starting on the state removes what an interrupted save left.
	td.Stop(t)
	daemontest.StartAt(t, td.Layout)
	if _, err := os.Stat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a restarted daemon kept %s: %v", leftover, err)
	}
}
