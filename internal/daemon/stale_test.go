package daemon

import (
	"testing"

	"github.com/bangerdev/banger/internal/images"
	"github.com/bangerdev/banger/internal/kernelcat"
	"github.com/bangerdev/banger/internal/snapshots"
)

// A snapshot is stale when a start can no longer compute its key: the
// image (by digest, with the same agent) or the kernel (by digest) left
// the catalogs or changed.
func TestStaleIn(t *testing.T) {
	imgs := []images.Image{{Digest: "sha256:img", AgentSHA256: "agent1"}}
	kernels := []kernelcat.Kernel{{VmlinuxSHA256: "k1"}}
	stale := staleIn(imgs, kernels)
	for _, tc := range []struct {
		name             string
		img, agent, kern string
		want             bool
	}{
		{"everything there", "sha256:img", "agent1", "k1", false},
		{"image re-pulled", "sha256:old", "agent1", "k1", true},
		{"agent upgraded", "sha256:img", "agent0", "k1", true},
		{"kernel replaced", "sha256:img", "agent1", "k0", true},
	} {
		k := snapshots.Key{ImageDigest: tc.img, AgentSHA256: tc.agent, KernelSHA256: tc.kern}
		if got := stale(k); got != tc.want {
			t.Errorf("%s: stale = %v, want %v", tc.name, got, tc.want)
		}
	}
	if staleIn(nil, nil)(snapshots.Key{}) != true {
		t.Error("with empty catalogs a snapshot is not stale")
	}
}
