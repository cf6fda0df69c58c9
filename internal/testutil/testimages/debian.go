package testimages

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// DebianSuite is the release DebianMinbaseTar bootstraps.
const DebianSuite = "bookworm"

// DefaultMirror is used when the host's apt sources name no Debian archive.
const DefaultMirror = "http://deb.debian.org/debian"

// DebianMinbaseTar returns the path of a tarball of `debootstrap
// --variant=minbase bookworm`, made once per machine under
// testutil.CacheDir (guarded by a lock, so parallel test binaries build it
// once). It needs root and debootstrap, and skips when the archive cannot
// be reached.
func DebianMinbaseTar(t testing.TB) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "debootstrap", "debootstrap")
	p, err := BuildDebianMinbase(context.Background(), filepath.Join(testutil.CacheDir(t), "debian-minbase"))
	if err != nil {
		testutil.Skip(t, "debootstrap cannot make a Debian tree (is the archive reachable?): "+err.Error())
	}
	return p
}

// BuildDebianMinbase makes (or finds) the minbase tarball in dir and
// returns its path. Numeric owners, modes and xattrs are kept.
func BuildDebianMinbase(ctx context.Context, dir string) (string, error) {
	// v2: the root directory is 0755 (v1 kept mktemp's 0700, so only root
	// could use the image).
	out := filepath.Join(dir, DebianSuite+"-minbase-v2.tar")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer func() { _ = lock.Close() }()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	root, err := os.MkdirTemp(dir, "root-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(root) }()
	mirror := HostDebianMirror()
	if b, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", DebianSuite, root, mirror).CombinedOutput(); err != nil {
		return "", fmt.Errorf("debootstrap %s from %s: %w: %s", DebianSuite, mirror, err, lastLines(string(b), 5))
	}
	// The tree's top is MkdirTemp's 0700; a root file system's is 0755.
	if err := os.Chmod(root, 0o755); err != nil {
		return "", err
	}
	tmp := out + ".tmp"
	cmd := exec.CommandContext(ctx, "tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", root, "-cf", tmp, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("tar the tree: %w: %s", err, b)
	}
	return out, os.Rename(tmp, out)
}

// HostDebianMirror is the Debian archive the host's apt uses (from
// /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list), or
// DefaultMirror.
func HostDebianMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		if m := MirrorIn(f); m != "" {
			return m
		}
	}
	return DefaultMirror
}

// MirrorIn returns the first URI of a main Debian archive (not security)
// in a deb822 .sources file or a one-line sources.list, or "".
func MirrorIn(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		var uri string
		switch {
		case len(fields) >= 2 && fields[0] == "URIs:":
			uri = fields[1]
		case len(fields) >= 3 && fields[0] == "deb":
			uri = fields[1]
			if strings.HasPrefix(uri, "[") { // deb [options] uri suite
				for i, f := range fields {
					if strings.HasSuffix(f, "]") && i+1 < len(fields) {
						uri = fields[i+1]
						break
					}
				}
			}
		}
		if strings.HasSuffix(strings.TrimSuffix(uri, "/"), "/debian") {
			return strings.TrimSuffix(uri, "/")
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
