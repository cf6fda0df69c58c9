package rootfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// xfsMount mounts a fresh 512 MiB XFS with reflinks on a loop device
// and returns its mount point (in the test's temp dir), unmounted when
// the test ends.
func xfsMount(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "mkfs.xfs", "xfsprogs")
	dir := t.TempDir()
	backing := filepath.Join(dir, "xfs.img")
	if err := os.WriteFile(backing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(backing, 512<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.xfs", "-q", "-m", "reflink=1", backing).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v %s", err, out)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", backing, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-d", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	return mnt
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bfree) * st.Bsize //nolint:gosec // block counts fit
}

func debugfsWrite(t *testing.T, disk, name, content string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("debugfs", "-w", "-R", "write "+src+" "+name, disk).CombinedOutput(); err != nil {
		t.Fatalf("debugfs write: %v %s", err, out)
	}
}

func debugfsCat(t *testing.T, disk, name string) string {
	t.Helper()
	out, _ := exec.Command("debugfs", "-R", "cat "+name, disk).Output()
	return string(out)
}

// cloneRaw is the check of a raw disk's clone in dataDir: the clone has
// what the VM wrote before it and the image's files, stays as sparse as
// its source, and after it the two disks are apart — a write to either
// is not in the other. It returns the free space dataDir lost.
func cloneRaw(t *testing.T, strategy, dataDir string) int64 {
	t.Helper()
	img, size := image(t, dataDir)
	m := New()
	vm := filepath.Join(dataDir, "vm")
	if err := os.Mkdir(vm, 0o700); err != nil {
		t.Fatal(err)
	}
	d, err := m.Create(context.Background(), Request{VMID: "src", Image: img, ImageSize: size, Dir: vm}, strategy, func(Disk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	debugfsWrite(t, d.Path, "before", strings.Repeat("written before the checkpoint\n", 1<<16))
	free := freeBytes(t, dataDir)
	dst := filepath.Join(dataDir, "checkpoint.raw")
	c, err := m.Clone(context.Background(), d, dst)
	if err != nil {
		t.Fatal(err)
	}
	lost := free - freeBytes(t, dataDir)
	if c.Path != dst || c.Format != "raw" || c.Strategy != strategy {
		t.Errorf("clone %+v", c)
	}
	if a, b := allocated(t, d.Path), allocated(t, dst); b > a+64<<10 || a > size/2 {
		t.Errorf("the clone allocates %d bytes, its source %d of %d: a clone must stay sparse", b, a, size)
	}
	debugfsWrite(t, d.Path, "after-src", "the source went on\n")
	debugfsWrite(t, dst, "after-clone", "the clone went on\n")
	for _, tt := range []struct{ disk, file, want string }{
		{dst, "/hello", "from the image\n"},
		{dst, "/before", strings.Repeat("written before the checkpoint\n", 1<<16)},
		{dst, "/after-clone", "the clone went on\n"},
		{dst, "/after-src", ""},
		{d.Path, "/after-clone", ""},
		{d.Path, "/after-src", "the source went on\n"},
	} {
		if got := debugfsCat(t, tt.disk, tt.file); got != tt.want {
			t.Errorf("%s in %s: %.40q, want %.40q", tt.file, filepath.Base(tt.disk), got, tt.want)
		}
	}
	if _, err := m.Clone(context.Background(), d, dst); !errors.Is(err, os.ErrExist) {
		t.Errorf("a clone onto an existing file: %v; want it refused", err)
	}
	if got := debugfsCat(t, dst, "/after-clone"); got != "the clone went on\n" {
		t.Errorf("a refused clone changed its destination: %q", got)
	}
	return lost
}

// A copy disk's clone on ext4 (the temp dir) and on tmpfs is a sparse
// copy.
func TestCloneCopyDisk(t *testing.T) {
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	dirs := map[string]string{"ext4 or the temp dir's": t.TempDir()}
	var st syscall.Statfs_t
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == 0x01021994 { // TMPFS_MAGIC
		shm, err := os.MkdirTemp("/dev/shm", "rootfs-clone-") //nolint:usetesting // on tmpfs, not the temp dir's file system
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(shm) })
		dirs["tmpfs"] = shm
	}
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			cloneRaw(t, Copy, dir)
		})
	}
}

// A reflink disk's clone on XFS shares its blocks: it costs (almost)
// no space, whatever the guest wrote.
func TestCloneReflinkDisk(t *testing.T) {
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	mnt := xfsMount(t)
	if lost := cloneRaw(t, Reflink, mnt); lost > 1<<20 {
		t.Errorf("a reflink clone took %d bytes of the file system; want it to share the source's blocks", lost)
	}
}

// A qcow2 overlay's clone keeps its backing image — also when the
// overlay names it relative to its own directory and the clone is
// elsewhere — and holds what the VM wrote; each then goes its own way.
func TestCloneQCOW2Disk(t *testing.T) {
	testutil.RequireBinary(t, "qemu-img", "qemu-utils")
	testutil.RequireBinary(t, "qemu-io", "qemu-utils")
	data := t.TempDir()
	img, size := image(t, data)
	m := New()
	absolute, err := m.Create(context.Background(), Request{VMID: "src", Image: img, ImageSize: size, Dir: data, QCOW2: true}, QCOW2, func(Disk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	relative := Disk{Path: filepath.Join(filepath.Dir(img), "rel.qcow2"), Format: "qcow2", Strategy: QCOW2}
	mustRun(t, filepath.Dir(img), "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", filepath.Base(img), filepath.Base(relative.Path))
	for name, d := range map[string]Disk{"absolute backing": absolute, "relative backing": relative} {
		t.Run(name, func(t *testing.T) {
			qemuIO(t, d.Path, "write -P 0x5a 1M 64k")
			dst := filepath.Join(t.TempDir(), "checkpoint.qcow2")
			c, err := m.Clone(context.Background(), d, dst)
			if err != nil {
				t.Fatal(err)
			}
			if c.Path != dst || c.Format != "qcow2" || c.Strategy != QCOW2 {
				t.Errorf("clone %+v", c)
			}
			info, err := m.qcow2Info(context.Background(), dst)
			if err != nil || info.FullBacking != img || !filepath.IsAbs(info.Backing) {
				t.Errorf("the clone's backing %+v, %v; want %s", info, err, img)
			}
			qemuIO(t, dst, "read -P 0x5a 1M 64k")
			qemuIO(t, dst, "write -P 0xa5 1M 4k")
			qemuIO(t, d.Path, "read -P 0x5a 1M 64k")
			if got := qemuImgOut(t, "convert", "-O", "raw", dst, filepath.Join(t.TempDir(), "flat")); got != "" {
				t.Errorf("qemu-img convert: %s", got)
			}
		})
	}
}

// A dm-snapshot disk's clone is a copy of its COW file (the devices are
// not on this host: the file is what Clone copies), sparse.
func TestCloneDMSnapshotCOW(t *testing.T) {
	dir := t.TempDir()
	cow := filepath.Join(dir, "disk.cow")
	f, err := os.Create(cow)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("exception"), 1000)
	for _, off := range []int64{0, 8 << 20, 30 << 20} {
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	d := Disk{Path: "/dev/mapper/banger-src-root", Format: "raw", Strategy: DMSnapshot, DM: &dmsnap.Names{COW: cow}}
	dst := filepath.Join(dir, "checkpoint.cow")
	c, err := New().Clone(context.Background(), d, dst)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != dst || c.Strategy != DMSnapshot || c.DM != nil {
		t.Errorf("clone %+v; want the COW file, no devices", c)
	}
	a, _ := os.ReadFile(cow)
	b, _ := os.ReadFile(dst)
	if !bytes.Equal(a, b) {
		t.Error("the clone's bytes differ from the COW file's")
	}
	if got, want := allocated(t, dst), allocated(t, cow); got > want+64<<10 {
		t.Errorf("the clone allocates %d bytes, the COW file %d", got, want)
	}
	d.DM = nil
	if _, err := New().Clone(context.Background(), d, filepath.Join(dir, "x")); !errors.Is(err, errdefs.ErrInvalid) {
		t.Errorf("a dm-snapshot disk without its names: %v", err)
	}
}

func TestCloneCommandLines(t *testing.T) {
	if got, want := qcow2InfoArgv("/vm/disk.qcow2"), []string{"qemu-img", "info", "-U", "--output=json", "/vm/disk.qcow2"}; !slices.Equal(got, want) {
		t.Errorf("qcow2InfoArgv = %q", got)
	}
	if got, want := qcow2RebaseArgv("/c/disk.qcow2", "/img/rootfs.ext4", "raw"), []string{"qemu-img", "rebase", "-u", "-F", "raw", "-b", "/img/rootfs.ext4", "/c/disk.qcow2"}; !slices.Equal(got, want) {
		t.Errorf("qcow2RebaseArgv = %q", got)
	}
	var info qcow2Info
	_ = json.Unmarshal([]byte(`{"backing-filename":"rootfs.ext4","full-backing-filename":"/img/rootfs.ext4","backing-filename-format":"raw"}`), &info)
	if info != (qcow2Info{Backing: "rootfs.ext4", FullBacking: "/img/rootfs.ext4", BackingFormat: "raw"}) {
		t.Errorf("qemu-img info decodes to %+v", info)
	}
}

func mustRun(t *testing.T, dir string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", strings.Join(argv, " "), err, out)
	}
}

func qemuIO(t *testing.T, path, command string) {
	t.Helper()
	out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", command, path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "Pattern verification failed") {
		t.Fatalf("qemu-io %s %s: %v %s", command, filepath.Base(path), err, out)
	}
}

func qemuImgOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("qemu-img", args...).CombinedOutput()
	if err != nil {
		return err.Error() + ": " + string(out)
	}
	return ""
}
