package paths

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRootedKeepsEverythingUnderRoot(t *testing.T) {
	l := Rooted("/tmp/bg1")
	for dir := range l.Dirs() {
		if !strings.HasPrefix(dir, "/tmp/bg1") {
			t.Errorf("%s escapes the root", dir)
		}
	}
	for _, p := range []string{l.Socket, l.Database(), l.LockFile(), l.ImageRootfs("abc"), l.VMRuntime("id"), l.Kernel("k")} {
		if !strings.HasPrefix(p, "/tmp/bg1/") {
			t.Errorf("%s escapes the root", p)
		}
	}
}

func TestDefaultLayout(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg/cache")
	l := Default()
	if l.State != "/var/lib/banger" || l.Run != "/run/banger" || l.Socket != "/run/banger/banger.sock" {
		t.Fatalf("default layout %+v", l)
	}
	if l.OCICache() != "/xdg/cache/banger/oci" {
		t.Fatalf("OCI cache %s, want under $XDG_CACHE_HOME", l.OCICache())
	}
	t.Setenv("XDG_CACHE_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/u")
	if got := UserCacheDir(); got != filepath.Join("/home/u", ".cache", "banger") {
		t.Fatalf("relative XDG_CACHE_HOME must be ignored, got %s", got)
	}
}

// Ensure gives every directory its own mode, whatever order a map would
// visit them in: the run dir holding the socket stays traversable.
func TestEnsureModes(t *testing.T) {
	for range 5 {
		l := Rooted(filepath.Join(t.TempDir(), "root"))
		if err := l.Ensure(); err != nil {
			t.Fatal(err)
		}
		for dir, mode := range l.Dirs() {
			fi, err := os.Stat(dir)
			if err != nil || fi.Mode().Perm() != mode&^umask() {
				t.Errorf("%s: %v, %v; want mode %o", dir, fi.Mode(), err, mode)
			}
		}
	}
}

func umask() os.FileMode {
	old := syscall.Umask(0)
	syscall.Umask(old)
	return os.FileMode(old)
}
