package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// DebianKernelDebs downloads, once per machine, the Debian cloud kernel
// packages (linux-image-cloud-amd64 and the versioned linux-image-*-cloud-amd64
// it depends on) with `apt-get download`, and returns the path of the
// versioned package, which holds the kernel and its modules. It skips when
// apt-get is absent or the download fails (no archive reachable).
func DebianKernelDebs(t testing.TB) string {
	t.Helper()
	RequireBinary(t, "apt-get", "apt")
	dir := filepath.Join(CacheDir(t), "debian-kernel")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock := lockDir(t, dir)
	defer unlock()

	if p := findVersionedDeb(dir); p != "" {
		return p
	}
	dep, err := aptDependency("linux-image-cloud-amd64")
	if err != nil {
		Skip(t, "cannot resolve linux-image-cloud-amd64 with apt-cache: "+err.Error())
	}
	for _, pkg := range []string{"linux-image-cloud-amd64", dep} {
		cmd := exec.CommandContext(context.Background(), "apt-get", "download", "-q", pkg)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			Skip(t, "apt-get download "+pkg+" failed (no Debian archive reachable?): "+strings.TrimSpace(string(b)))
		}
	}
	p := findVersionedDeb(dir)
	if p == "" {
		t.Fatalf("apt-get download left no linux-image-*-cloud-amd64 package in %s", dir)
	}
	return p
}

func findVersionedDeb(dir string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "linux-image-[0-9]*-cloud-amd64_*.deb"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// aptDependency returns the linux-image-* package a metapackage depends on.
func aptDependency(meta string) (string, error) {
	out, err := exec.CommandContext(context.Background(), "apt-cache", "depends", meta).Output()
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: "); ok && strings.HasPrefix(dep, "linux-image-") {
			return dep, nil
		}
	}
	return "", os.ErrNotExist
}

// lockDir takes an exclusive flock on dir/.lock so parallel test binaries
// download once.
func lockDir(t testing.TB, dir string) func() {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
}
