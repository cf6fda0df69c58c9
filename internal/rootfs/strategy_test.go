package rootfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/testutil"
)

const (
	imageSize = 32 << 20
	grownSize = 64 << 20
	blobSize  = 8 << 20
)

// Every strategy this host can run passes the same test.
func TestStrategyCopy(t *testing.T) {
	testStrategy(t, t.TempDir(), Copy, "qemu", func(t *testing.T, img string, d Disk) {
		// Holes stay holes: the copy allocates no more than the image.
		if a, b := allocated(t, d.Path), allocated(t, img); a > b+(1<<20) {
			t.Errorf("copy allocates %d bytes, the image %d: holes were filled", a, b)
		}
	})
}

func TestStrategyQCOW2(t *testing.T) {
	testutil.RequireBinary(t, "qemu-img", "qemu-utils")
	testStrategy(t, t.TempDir(), QCOW2, "qemu", func(t *testing.T, img string, d Disk) {
		info := qemuImgInfo(t, d.Path)
		if info.BackingFilename != img || info.BackingFormat != "raw" || info.Format != "qcow2" {
			t.Errorf("qemu-img info = %+v; want qcow2 backed by raw %s", info, img)
		}
	})
}

// Reflink on a loop-mounted XFS made with reflink=1.
func TestStrategyReflinkXFS(t *testing.T) {
	mnt := xfsMount(t)
	var before unix.Statfs_t
	testStrategy(t, mnt, Reflink, "firecracker", func(t *testing.T, _ string, _ Disk) {
		var after unix.Statfs_t
		if err := unix.Statfs(mnt, &after); err != nil {
			t.Fatal(err)
		}
		used := (int64(before.Bfree) - int64(after.Bfree)) * after.Bsize
		if used > blobSize/2 {
			t.Errorf("the clone used %d bytes of the file system: blocks were copied, not shared", used)
		}
	}, func() {
		if err := unix.Statfs(mnt, &before); err != nil {
			t.Fatal(err)
		}
	})
	if c := Detect(mnt); !c.Reflink.OK || !strings.Contains(c.Reflink.Reason, "xfs") {
		t.Errorf("Detect(%s).Reflink = %+v; want supported on xfs", mnt, c.Reflink)
	}
}

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	c := Detect(dir)
	if c.Reflink.Reason == "" || c.DMSnapshot.Reason == "" || c.QCOW2.Reason == "" {
		t.Fatalf("Detect = %+v; every capability needs a reason", c)
	}
	if fsName(dir) == "ext4" && c.Reflink.OK {
		t.Errorf("ext4 cannot reflink, Detect says %+v", c.Reflink)
	}
	_, err := os.Stat(mapperControl)
	if c.DMSnapshot.OK != (err == nil) {
		t.Errorf("DMSnapshot = %+v, but %s: %v", c.DMSnapshot, mapperControl, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Detect left files behind: %v", entries)
	}
}

// testStrategy is the shared rootfs conformance test: plan, create, read
// the image's files in the disk, write to the disk without touching the
// image, remove (twice), grow, refuse to overwrite, clean up after a
// failed create. extra runs strategy checks on the first disk; before runs
// just before its creation.
func testStrategy(t *testing.T, base string, s Strategy, backend string, extra func(*testing.T, string, Disk), before ...func()) {
	if testing.Short() {
		t.Skip("runs e2fsprogs")
	}
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	img := mkImage(t, filepath.Join(base, "images"))
	sum := hashFile(t, img)
	vmDir := filepath.Join(base, "vms", "vm1")
	ctx := context.Background()
	m := New()
	req := Request{VMID: "vm1", Image: img, Dir: vmDir, Backend: backend, Strategy: s}

	d, err := m.Plan(req)
	if err != nil {
		t.Fatal(err)
	}
	if d.Strategy != s || filepath.Dir(d.Path) != vmDir || d.Size != imageSize || d.GrowFS {
		t.Fatalf("plan = %+v", d)
	}
	if _, err := os.Stat(d.Path); err == nil {
		t.Fatal("Plan created the disk")
	}
	for _, f := range before {
		f()
	}
	if err := m.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	extra(t, img, d)
	raw := materialize(t, d)
	if got := catFile(t, raw, "/hello"); got != "world" {
		t.Errorf("/hello in the disk = %q", got)
	}
	writeAt0(t, d, 0xab)
	if got := readAt0(t, materialize(t, d)); got != 0xab {
		t.Errorf("byte written to the disk reads back as %#x", got)
	}
	if hashFile(t, img) != sum {
		t.Fatal("writing to the disk changed the image")
	}
	if err := m.Create(ctx, d); err == nil || !errors.Is(err, os.ErrExist) {
		t.Errorf("second Create = %v; want ErrExist", err)
	}
	if readAt0(t, materialize(t, d)) != 0xab {
		t.Error("a refused Create changed the existing disk")
	}
	removeTwice(t, m, d, vmDir)

	// Grown: the disk has the new size and, for raw, so does its ext4.
	req.Size = grownSize
	g, err := m.Plan(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	raw = materialize(t, g)
	if fi, err := os.Stat(raw); err != nil || fi.Size() != grownSize {
		t.Fatalf("grown disk: %v, %v; want %d bytes", fi, err, grownSize)
	}
	wantFS := int64(grownSize)
	if g.GrowFS != (g.Format == "qcow2") {
		t.Errorf("GrowFS = %v for a %s disk", g.GrowFS, g.Format)
	}
	if g.GrowFS {
		wantFS = imageSize // the guest grows it at boot
	}
	if got := fsBytes(t, raw); got != wantFS {
		t.Errorf("ext4 in the grown disk spans %d bytes; want %d", got, wantFS)
	}
	fsck(t, raw)
	if got := catFile(t, raw, "/hello"); got != "world" {
		t.Errorf("/hello in the grown disk = %q", got)
	}
	removeTwice(t, m, g, vmDir)

	// A Create that fails leaves nothing: the image vanished after Plan.
	gone := filepath.Join(base, "images", "gone.ext4")
	if err := os.Link(img, gone); err != nil {
		t.Fatal(err)
	}
	req.Image, req.Size = gone, 0
	f, err := m.Plan(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(gone)
	if err := m.Create(ctx, f); err == nil {
		t.Fatal("Create from a missing image succeeded")
	}
	assertEmpty(t, vmDir)
}

func removeTwice(t *testing.T, m *Manager, d Disk, vmDir string) {
	t.Helper()
	for i := range 2 {
		if err := m.Remove(context.Background(), d); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	assertEmpty(t, vmDir)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		t.Errorf("left in %s: %s", dir, e.Name())
	}
}
