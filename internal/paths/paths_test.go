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
	for _, p := range []string{l.Socket, l.DockerSocket, l.Database(), l.LockFile(), l.ImageRootfs("abc"), l.VMRuntime("id"), l.Kernel("k")} {
		if !strings.HasPrefix(p, "/tmp/bg1/") {
			t.Errorf("%s escapes the root", p)
		}
	}
}

// TestDefaultLayoutIgnoresHome: the system daemon's layout is the same
// with HOME and XDG set, or with neither (a systemd system service), and
// nothing of it is under /tmp.
func TestDefaultLayoutIgnoresHome(t *testing.T) {
	want := Layout{State: "/var/lib/banger", Run: "/run/banger", Cache: "/var/cache/banger", Socket: "/run/banger/banger.sock", DockerSocket: "/run/banger/docker.sock"}
	for _, env := range []map[string]string{
		{"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg/cache", "XDG_RUNTIME_DIR": "/run/user/1000"},
		{"HOME": "", "XDG_CACHE_HOME": "", "XDG_RUNTIME_DIR": ""},
	} {
		for k, v := range env {
			t.Setenv(k, v)
		}
		l := Default()
		if l != want {
			t.Fatalf("with %v: default layout %+v, want %+v", env, l, want)
		}
		for dir := range l.Dirs() {
			if strings.HasPrefix(dir, os.TempDir()) || strings.HasPrefix(dir, "/tmp") {
				t.Errorf("with %v: %s is under a temporary directory", env, dir)
			}
		}
	}
}

func TestUserConfigDir(t *testing.T) {
	for _, tc := range []struct{ xdg, home, want string }{
		{"/xdg", "/home/u", "/xdg/banger"},
		{"relative/ignored", "/home/u", "/home/u/.config/banger"},
		{"", "/home/u", "/home/u/.config/banger"},
		{"", "", ""},
		{"", "relative", ""},
	} {
		t.Setenv("XDG_CONFIG_HOME", tc.xdg)
		t.Setenv("HOME", tc.home)
		got, err := UserConfigDir()
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("XDG_CONFIG_HOME=%q HOME=%q: %q, %v; want %q", tc.xdg, tc.home, got, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "set HOME") {
			t.Errorf("the error does not say what to do: %v", err)
		}
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
