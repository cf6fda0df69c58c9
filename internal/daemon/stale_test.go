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
	stale := staleIn(imgs, kernels, "SHA256:me")
	for _, tc := range []struct {
		name             string
		img, agent, kern string
		client           string
		want             bool
	}{
		{"everything there", "sha256:img", "agent1", "k1", "SHA256:me", false},
		{"image re-pulled", "sha256:old", "agent1", "k1", "SHA256:me", true},
		{"agent upgraded", "sha256:img", "agent0", "k1", "SHA256:me", true},
		{"kernel replaced", "sha256:img", "agent1", "k0", "SHA256:me", true},
		{"client key replaced", "sha256:img", "agent1", "k1", "SHA256:old", true},
	} {
		k := snapshots.Key{ImageDigest: tc.img, AgentSHA256: tc.agent, KernelSHA256: tc.kern, Daemon: tc.client}
		if got := stale(k); got != tc.want {
			t.Errorf("%s: stale = %v, want %v", tc.name, got, tc.want)
		}
	}
	if staleIn(nil, nil, "")(snapshots.Key{}) != true {
		t.Error("with empty catalogs a snapshot is not stale")
	}
}
