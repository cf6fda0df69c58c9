package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// DockerCLI returns Debian's docker client (package docker.io, Docker
// 20.10, Engine API 1.41) that scripts/dockercli.sh put in
// .tools/docker-cli, or skips. No dockerd comes with it.
func DockerCLI(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), ".tools", "docker-cli", "docker")
	if _, err := os.Stat(bin); err != nil {
		Skip(t, "the docker client is not in "+filepath.Dir(bin)+": run scripts/dockercli.sh (make deps)")
	}
	return bin
}

// Compose returns Debian's docker-compose (1.29.2, Python, on
// docker-py) that scripts/compose.sh unpacked into .tools/compose, or
// skips.
func Compose(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(RepoRoot(t), ".tools", "compose", "docker-compose")
	if _, err := os.Stat(bin); err != nil {
		Skip(t, "docker-compose is not in "+filepath.Dir(bin)+": run scripts/compose.sh (make deps)")
	}
	return bin
}
