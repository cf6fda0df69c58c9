// Package testutil holds the helpers that gate and feed banger's test tiers
// (docs/architecture.md, "Test tiers"): RequireRoot and RequireQEMU skip
// with the reason when a tier's needs are absent, DetectKVM says what this
// host's KVM really offers (so a test expects what the backends' probes
// will find), and the fetchers download or build, once per machine, what
// VM tests boot (the Debian cloud kernel package, banger's own binaries).
//
// CI provides root, qemu and apt, so in CI nothing skips; set
// BANGER_TEST_STRICT=1 to turn every such skip into a failure.
package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// EnvStrict turns skips for missing prerequisites into failures (CI sets it).
const EnvStrict = "BANGER_TEST_STRICT"

// EnvCache overrides the directory where downloads are cached between runs.
const EnvCache = "BANGER_TEST_CACHE"

// Skip skips the test with reason, or fails it when BANGER_TEST_STRICT=1.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(EnvStrict) == "1" {
		t.Fatalf("%s (and %s=1 forbids skipping)", reason, EnvStrict)
	}
	t.Skip(reason)
}

// RequireRoot skips unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (tap, loop, nftables, mount); run `sudo make test`")
	}
}

// RequireBinary skips unless name is in PATH, and returns its path.
func RequireBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" not found in PATH; install the Debian package "+pkg)
	}
	return p
}

// RequireQEMU skips unless qemu-system-x86_64 is installed (and always with
// -short: the unit tier boots nothing), and returns it.
func RequireQEMU(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		// The unit tier (make test-unit) boots nothing, strict or not.
		t.Skip("boots a VM: not with -short")
	}
	return RequireBinary(t, "qemu-system-x86_64", "qemu-system-x86")
}

// CacheDir is where test downloads persist between runs:
// $BANGER_TEST_CACHE, else /var/cache/banger-test as root, else the user's
// cache dir.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvCache)
	if dir == "" {
		if os.Geteuid() == 0 {
			dir = "/var/cache/banger-test"
		} else if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "banger-test")
		} else {
			dir = filepath.Join(os.TempDir(), "banger-test-cache")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil { //nolint:gosec // the tester picks the cache dir
		t.Fatalf("test cache dir: %v", err)
	}
	return dir
}

// RepoRoot returns the repository's top directory (where go.mod is).
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate testutil source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SpecPath returns the path of a file in the repository's specs/ (or
// $BANGER_SPECS), or skips when it is not there.
func SpecPath(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{
		os.Getenv("BANGER_SPECS"),
		filepath.Join(RepoRoot(t), "specs"),
	} {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil { //nolint:gosec // the tester picks the specs dir
			return p
		}
	}
	Skip(t, "spec file "+name+" not found (set BANGER_SPECS)")
	return ""
}

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
)

// testBinDir is this test process's directory for built binaries,
// /tmp/banger-testbin-<pid>. Go's testing has no process-end hook for
// helpers, so instead each process removes the directories of processes
// that are gone.
func testBinDir() (string, error) {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "banger-testbin-*"))
	for _, m := range matches {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(m), "banger-testbin-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(m)
		}
	}
	dir := filepath.Join(os.TempDir(), "banger-testbin-"+strconv.Itoa(os.Getpid()))
	return dir, os.MkdirAll(dir, 0o755)
}

// BuildBinary builds a static binary of the package at pkg (e.g.
// "./cmd/banger-agent") once per test process and returns its path.
func BuildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtPaths[pkg]; ok {
		return p
	}
	// Shared by every test of the process, so not t.TempDir.
	dir, err := testBinDir()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(context.Background(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = RepoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	builtPaths[pkg] = out
	return out
}

// SearchableTempDir is a t.TempDir that every uid may search, its parent
// too (t.TempDir's are 0700), for tests that act as another uid.
func SearchableTempDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { //nolint:gosec // a test directory other uids must reach
			t.Fatal(err)
		}
	}
	return dir
}
