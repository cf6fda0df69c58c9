package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/commit"
	"github.com/bangerdev/banger/internal/store"
	"github.com/bangerdev/banger/internal/vms"
)

// TestReconcileBuilds: what a build or a commit that a previous daemon
// was running left — a RUN step's VM (labelled), the build's and the
// commit's scratch directories — is removed at the next start; a VM
// without the build's label and a directory of another name stay.
// (layerdiff's TestSweepUndoesACrashedDiff covers the mounts a diff
// leaves, which the sweep undoes first.)
func TestReconcileBuilds(t *testing.T) {
	d, _ := serveDaemon(t)
	for id, labels := range map[string]map[string]string{
		"b1": {buildLabel: "run"},
		"u1": {"team": "web"},
	} {
		vm := vms.VM{ID: id, Name: "vm-" + id, State: vms.Exited, Created: time.Now(), Spec: vms.Spec{Labels: labels}}
		if err := d.store.Put(store.VMs, id, vm); err != nil {
			t.Fatal(err)
		}
	}
	scratch := filepath.Join(d.layout.Tmp(), buildScratch+"123")
	committing := filepath.Join(d.layout.Tmp(), commit.ScratchPrefix+"456")
	other := filepath.Join(d.layout.Tmp(), "pull-123")
	for _, dir := range []string{filepath.Join(scratch, "context"), committing, other} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	d.reconcileScratch(context.Background())
	left, err := d.vms.List(true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, vm := range left {
		ids = append(ids, vm.ID)
	}
	if len(ids) != 1 || ids[0] != "u1" {
		t.Errorf("VMs left: %v; want only u1", ids)
	}
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("the build's scratch directory is still there: %v", err)
	}
	if _, err := os.Stat(committing); !os.IsNotExist(err) {
		t.Errorf("the commit's scratch directory is still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another directory in tmp went: %v", err)
	}
}
