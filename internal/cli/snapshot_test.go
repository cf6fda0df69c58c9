package cli_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/daemon/daemontest"
	"github.com/bangerdev/banger/internal/snapshots"
)

// The snapshot commands against a real daemon whose store holds two
// snapshots (stale: the daemon's catalogs are empty).
func TestSnapshotCommands(t *testing.T) {
	td := daemontest.Start(t)
	st, err := snapshots.New(td.Layout.Snapshots(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for cpus := 1; cpus <= 2; cpus++ {
		k := snapshots.Key{
			Backend: "qemu", ImageDigest: "sha256:aa", AgentSHA256: "bb", KernelSHA256: "cc", CPUs: cpus, MemoryMiB: 256,
			Drives: []snapshots.Drive{{ID: "root", Root: true}}, Daemon: "SHA256:dd",
		}
		p, err := st.Prepare(k, snapshots.Origin{Image: "debian:bookworm"})
		if err == nil {
			err = p.Create()
		}
		if err == nil {
			err = os.WriteFile(p.Spec().StatePath, make([]byte, 2048), 0o600)
		}
		if err == nil {
			_, err = p.Commit()
		}
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID())
	}

	out, errOut, code := run(t, td.Host, "snapshot", "ls")
	if code != 0 || !strings.Contains(out, "STATUS") || !strings.Contains(out, ids[0]) || !strings.Contains(out, "debian:bookworm") || !strings.Contains(out, "stale") {
		t.Fatalf("snapshot ls: exit %d, %s\n%s", code, errOut, out)
	}
	out, _, code = run(t, td.Host, "snapshot", "ls", "--format", "json")
	var list []struct {
		ID        string `json:"id"`
		SizeBytes int64  `json:"size_bytes"`
		Stale     bool   `json:"stale"`
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil || len(list) != 2 || list[0].SizeBytes != 2048 || !list[0].Stale {
		t.Fatalf("snapshot ls --format json: exit %d, %v\n%s", code, err, out)
	}
	out, _, code = run(t, td.Host, "snapshot", "ls", "-q")
	if code != 0 || strings.Fields(out)[0] != min(ids[0], ids[1]) || len(strings.Fields(out)) != 2 {
		t.Fatalf("snapshot ls -q: exit %d\n%s", code, out)
	}

	if got := complete(t, td.Host, "snapshot", "rm", ""); len(got) != 2 || !slices.Contains(got, ids[0]) || !slices.Contains(got, ids[1]) {
		t.Fatalf("completion of snapshot rm = %v, want %v", got, ids)
	}
	out, _, code = run(t, td.Host, "snapshot", "rm", ids[0][:6])
	if code != 0 || !strings.Contains(out, "Removed "+ids[0]) {
		t.Fatalf("snapshot rm: exit %d\n%s", code, out)
	}
	_, errOut, code = run(t, td.Host, "snapshot", "rm", ids[0])
	if code == 0 || !strings.Contains(errOut, "snapshot ls") {
		t.Fatalf("snapshot rm of a removed snapshot: exit %d, %q", code, errOut)
	}
	out, _, code = run(t, td.Host, "snapshot", "prune")
	if code != 0 || !strings.Contains(out, "Removed "+ids[1]) || !strings.Contains(out, "Reclaimed") {
		t.Fatalf("snapshot prune: exit %d\n%s", code, out)
	}
	out, _, code = run(t, td.Host, "snapshot", "prune", "--all", "--format", "json")
	if code != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("snapshot prune --all on an empty store: exit %d\n%s", code, out)
	}
}
