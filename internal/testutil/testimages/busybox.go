// Package testimages makes the root file systems banger's tests boot and
// convert, as tarballs cached once per machine:
//
//   - BusyboxRootfsTar: a tiny system from Debian's busybox-static
//     (/bin/busybox, its applets as symlinks, root and a uid-1000 user), made
//     in a blink, for fast VM tests;
//   - DebianMinbaseTar: `debootstrap --variant=minbase bookworm` from the
//     Debian archive the host's apt uses — a real distribution for
//     conversion tests and the image benchmark.
//
// The builders also work outside tests (cmd/testimage), so scripts such as
// the demo and the benchmark use exactly the same trees.
package testimages

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/testutil"
)

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// busyboxFormat versions the tree WriteBusyboxRootfs makes: bump it when
// the tree changes, so cached tarballs are rebuilt.
const busyboxFormat = "v1"

// The users of the busybox system.
const (
	UserName = "user"
	UserID   = 1000
)

// BusyboxRootfsTar returns the path of a tarball of the busybox root file
// system, built from the host's static busybox once per machine (cached
// under testutil.CacheDir). It skips when busybox-static is missing.
func BusyboxRootfsTar(t testing.TB) string {
	t.Helper()
	bb := testutil.RequireBinary(t, "busybox", "busybox-static")
	if _, err := os.Stat(BusyboxPath); err == nil {
		bb = BusyboxPath
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if !isStatic(bb) {
		testutil.Skip(t, bb+" is dynamically linked; install the Debian package busybox-static")
	}
	sum := sha256.Sum256(data)
	dir := filepath.Join(testutil.CacheDir(t), "testimages")
	out := filepath.Join(dir, fmt.Sprintf("busybox-%s-%s.tar", hex.EncodeToString(sum[:6]), busyboxFormat))
	if _, err := os.Stat(out); err == nil { //nolint:gosec // the tester picks the cache dir
		return out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, "busybox-*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if err := WriteBusyboxRootfs(context.Background(), tmp, bb); err != nil {
		t.Fatalf("busybox rootfs: %v", err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil { //nolint:gosec // the tester picks the cache dir
		t.Fatal(err)
	}
	return out
}

// isStatic reports whether the ELF file at p has no program interpreter.
func isStatic(p string) bool {
	f, err := elf.Open(p)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// WriteBusyboxRootfs writes a root file system tarball to w: busybox at
// /bin/busybox with every applet `busybox --list-full` names as a symlink
// to it, /etc/passwd, /etc/group and /etc/shadow (0640 root:shadow) with
// root and user (uid and gid 1000, home /home/user), /tmp (1777), /root
// (0700), and the mount points an init needs.
func WriteBusyboxRootfs(ctx context.Context, w io.Writer, busybox string) error {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	list, err := exec.CommandContext(ctx, busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime})
	}
	file := func(name string, mode int64, gid int, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Gid: gid, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dirs := map[string]int64{
		".": 0o755, "bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
		"etc": 0o755, "dev": 0o755, "proc": 0o555, "sys": 0o555, "run": 0o755, "var": 0o755,
		"var/log": 0o755, "tmp": 0o1777, "root": 0o700, "home": 0o755,
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	var errs []error
	for _, d := range names {
		errs = append(errs, dir(d, dirs[d], 0))
	}
	errs = append(errs,
		dir("home/"+UserName, 0o755, UserID),
		file("bin/busybox", 0o755, 0, bin),
		file("etc/passwd", 0o644, 0, []byte("root:x:0:0:root:/root:/bin/sh\n"+UserName+":x:1000:1000:user:/home/"+UserName+":/bin/sh\n")),
		file("etc/group", 0o644, 0, []byte("root:x:0:\nshadow:x:42:\n"+UserName+":x:1000:\n")),
		file("etc/shadow", 0o640, 42, []byte("root:*:19000:0:99999:7:::\n"+UserName+":*:19000:0:99999:7:::\n")),
		file("etc/hostname", 0o644, 0, []byte("busybox\n")),
	)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "bin/busybox" || !strings.Contains(applet, "/") || strings.Contains(applet, "..") {
			continue
		}
		if _, ok := dirs[filepath.Dir(applet)]; !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: applet, Linkname: "/bin/busybox", Mode: 0o777, ModTime: mtime}); err != nil {
			return err
		}
	}
	return tw.Close()
}

// BusyboxTree is BusyboxRootfsTar unpacked in a directory of the test's
// own (a container image's tree, say), owners and modes kept.
func BusyboxTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.CommandContext(t.Context(), "tar", "-C", dir, "-xf", BusyboxRootfsTar(t)).CombinedOutput(); err != nil {
		t.Fatalf("unpack the busybox image: %v\n%s", err, out)
	}
	return dir
}
