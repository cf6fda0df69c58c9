package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// TestTestcontainers runs testcontainers-go (test/testcontainers, a
// module of its own so its dependencies stay out of banger's go.mod)
// against the fixture daemon's Docker socket: a GenericContainer with a
// log wait strategy, reached through MappedPort, then terminated; and the
// reaper's label cleanup done by hand. The reaper itself is disabled
// (TESTCONTAINERS_RYUK_DISABLED=true): its image is on Docker Hub, which
// these tests cannot reach.
func TestTestcontainers(t *testing.T) {
	f := env(t)
	img := dockerImage(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "./...")
	cmd.Dir = filepath.Join(testutil.RepoRoot(t), "test", "testcontainers")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+f.layout.DockerSocket, "BANGER_TC_IMAGE="+img,
		"TESTCONTAINERS_RYUK_DISABLED=true", "DOCKER_CONFIG="+t.TempDir())
	out, err := cmd.CombinedOutput()
	t.Logf("test/testcontainers:\n%s", out)
	if err != nil {
		t.Fatalf("go test in test/testcontainers: %v\ndaemon log tail:\n%s", err, f.logTail())
	}
	for _, want := range []string{"--- PASS: TestGenericContainer", "--- PASS: TestLabelCleanup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("test/testcontainers did not report %q (skipped?)", want)
		}
	}
	f.assertNoOrphans(t)
}
