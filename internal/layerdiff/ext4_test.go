package layerdiff_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/imagepull"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/layerdiff"
	"github.com/bangerdev/banger/internal/testutil"
)

// lowerTar is the image every ext4 test starts from.
func lowerTar() []byte {
	return rt.MustTar(
		rt.Dir(".banger"), rt.File(".banger/version", "banger_version=1\n"),
		rt.Dir("bin"), rt.File("bin/tool", "T").WithMode(0o755), rt.Hardlink("bin/alias", "bin/tool"),
		rt.Dir("d2f"), rt.File("d2f/child", "c"),
		rt.Dir("emptied"), rt.File("emptied/x", "x"), rt.File("emptied/y", "y"),
		rt.Dir("etc"),
		rt.File("etc/conf", "v1"), rt.File("etc/hostname", "image\n"), rt.File("etc/mode", "m"),
		rt.File("etc/owner", "o"), rt.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		rt.File("etc/resolv.conf", "nameserver 192.0.2.1\n"), rt.File("etc/same", "abcd"), rt.File("etc/xattr", "x"),
		rt.File("f2d", "f"),
		rt.File("gone", "g"),
		rt.Dir("gonedir"), rt.File("gonedir/a", "a"), rt.Dir("gonedir/sub"), rt.File("gonedir/sub/b", "b"),
		rt.File("keep", "k"),
		rt.Symlink("link", "etc/passwd"),
	)
}

// buildExt4 makes an ext4 image of the flattened layer tarball.
func buildExt4(t *testing.T, path string, layer []byte) {
	t.Helper()
	_, err := imagepull.BuildExt4(t.Context(), path, imagepull.Ext4Options{HeadroomPercent: 50}, func(s imagepull.Sink) error {
		_, err := imagepull.Flatten(t.Context(), []imagepull.Layer{{ID: "lower", Open: func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(layer)), nil
		}}}, s, imagepull.FlattenOptions{TmpDir: t.TempDir()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mountRW loop-mounts image read-write on a new directory; the returned
// function unmounts it (mount -o loop sets autoclear, so the loop device
// goes with it).
func mountRW(t *testing.T, image string, opts string) (string, func()) {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.CommandContext(t.Context(), "mount", "-o", opts, image, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v: %s", image, err, out)
	}
	done := false
	umount := func() {
		if done {
			return
		}
		done = true
		if out, err := exec.CommandContext(context.Background(), "umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	}
	t.Cleanup(umount)
	return dir, umount
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// loopsOf lists the loop devices backed by file.
func loopsOf(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "losetup", "--associated", file).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup -j: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// modify changes the tree at root the way a user in a VM would.
func modify(t *testing.T, root string) {
	t.Helper()
	at := func(p string) string { return filepath.Join(root, p) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(at("new/deep"), 0o750))
	must(os.WriteFile(at("new/deep/file.txt"), []byte("hello\n"), 0o640))
	must(os.WriteFile(at("etc/conf"), []byte("v2, longer"), 0o644))
	// Same size, mtime restored: only the change time tells.
	fi, err := os.Stat(at("etc/same"))
	must(err)
	must(os.WriteFile(at("etc/same"), []byte("wxyz"), 0o644))
	must(os.Chtimes(at("etc/same"), fi.ModTime(), fi.ModTime()))
	must(unix.Chmod(at("etc/mode"), 0o4711))
	must(os.Lchown(at("etc/owner"), 1000, 1001))
	must(unix.Lsetxattr(at("etc/xattr"), "user.origin", []byte("commit"), 0))
	must(os.Remove(at("gone")))
	must(os.RemoveAll(at("gonedir")))
	must(os.Remove(at("emptied/x")))
	must(os.Remove(at("emptied/y")))
	must(os.Remove(at("link")))
	must(os.Symlink("etc/conf", at("link")))
	must(os.Link(at("keep"), at("keep2")))
	must(os.RemoveAll(at("d2f")))
	must(os.WriteFile(at("d2f"), []byte("now a file"), 0o600))
	must(os.Remove(at("f2d")))
	must(os.Mkdir(at("f2d"), 0o700))
	must(os.WriteFile(at("f2d/inside"), []byte("i"), 0o644))
	// banger's own files, rewritten at boot: never in a layer.
	must(os.WriteFile(at("etc/hostname"), []byte("vm-name\n"), 0o644))
	must(os.Remove(at("etc/resolv.conf")))
	must(os.WriteFile(at(".banger/version"), []byte("banger_version=2\n"), 0o644))
}

// TestDiffExt4 diffs a real ext4 image against a copy changed through the
// kernel, checks the layer member by member, and checks that Flatten of
// the image's layer plus the diff gives the copy's tree exactly.
func TestDiffExt4(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "losetup", "mount")
	dir := t.TempDir()
	lower, upper := filepath.Join(dir, "lower.ext4"), filepath.Join(dir, "upper.ext4")
	base := lowerTar()
	buildExt4(t, lower, base)
	copyFile(t, lower, upper)
	mnt, umount := mountRW(t, upper, "loop")
	modify(t, mnt)
	umount()

	var layer bytes.Buffer
	st, err := layerdiff.Diff(t.Context(), lower, upper, &layer, layerdiff.Options{TmpDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{lower, upper} {
		if l := loopsOf(t, f); l != "" {
			t.Errorf("Diff left a loop device on %s: %s", f, l)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("Diff left files in its TmpDir: %v", entries)
	}

	got := members(t, layer.Bytes())
	want := []member{
		{Name: "d2f", Type: tar.TypeReg, Data: "now a file", Mode: 0o600},
		{Name: "emptied/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "emptied/.wh..wh..opq", Type: tar.TypeReg},
		{Name: "etc/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/conf", Type: tar.TypeReg, Data: "v2, longer", Mode: 0o644},
		{Name: "etc/mode", Type: tar.TypeReg, Data: "m", Mode: 0o4711},
		{Name: "etc/owner", Type: tar.TypeReg, Data: "o", Mode: 0o644, UID: 1000, GID: 1001},
		{Name: "etc/same", Type: tar.TypeReg, Data: "wxyz", Mode: 0o644},
		{Name: "etc/xattr", Type: tar.TypeReg, Data: "x", Mode: 0o644},
		{Name: "f2d/", Type: tar.TypeDir, Mode: 0o700},
		{Name: "f2d/inside", Type: tar.TypeReg, Data: "i", Mode: 0o644},
		{Name: ".wh.gone", Type: tar.TypeReg},
		{Name: ".wh.gonedir", Type: tar.TypeReg},
		{Name: "keep", Type: tar.TypeReg, Data: "k", Mode: 0o644},
		{Name: "keep2", Type: tar.TypeLink, Link: "keep", Mode: 0o644},
		{Name: "link", Type: tar.TypeSymlink, Link: "etc/conf", Mode: 0o777},
		{Name: "new/", Type: tar.TypeDir, Mode: 0o750},
		{Name: "new/deep/", Type: tar.TypeDir, Mode: 0o750},
		{Name: "new/deep/file.txt", Type: tar.TypeReg, Data: "hello\n", Mode: 0o640},
	}
	if len(got) != len(want) {
		t.Errorf("layer has %d members, want %d:\n%v", len(got), len(want), got)
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("member %d: got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	wantStats := layerdiff.Stats{Added: 7, Changed: 9, Deleted: 3, Hardlinks: 1, Bytes: 10 + 10 + 1 + 1 + 4 + 1 + 1 + 1 + 6}
	if st != wantStats {
		t.Errorf("stats %+v, want %+v", st, wantStats)
	}

	// Applying the layer over the image gives the copy's tree.
	view, _ := mountRW(t, upper, "loop,ro,noload")
	sameModel(t, tarModel(t, flatten(t, base, layer.Bytes())), dirModel(t, view))
}
