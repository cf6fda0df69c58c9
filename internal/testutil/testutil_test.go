package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRepoRootHasGoMod(t *testing.T) {
	if _, err := os.Stat(filepath.Join(RepoRoot(t), "go.mod")); err != nil {
		t.Fatalf("RepoRoot %s has no go.mod: %v", RepoRoot(t), err)
	}
}

func TestDebianKernelDebs(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads a kernel package; skipped in -short mode")
	}
	p := DebianKernelDebs(t)
	fi, err := os.Stat(p)
	if err != nil || fi.Size() < 1<<20 {
		t.Fatalf("kernel package %s: %v (size %v)", p, err, fi)
	}
	// A second call must hit the cache and return the same file.
	if again := DebianKernelDebs(t); again != p {
		t.Fatalf("second call returned %s, want cached %s", again, p)
	}
}
