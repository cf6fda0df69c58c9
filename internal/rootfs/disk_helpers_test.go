package rootfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/testutil"
)

// Helpers of the strategy tests: make an ext4 image, look into disks with
// e2fsprogs and qemu-img, mount a reflink-capable XFS.

// mkImage makes a read-only ext4 image with /hello ("world") and an 8 MiB
// random /blob, in a sparse 32 MiB file.
func mkImage(t *testing.T, dir string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, blobSize)
	_, _ = rand.Read(blob)
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("world"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "rootfs.ext4")
	run(t, "mkfs.ext4", "-q", "-F", "-d", src, img, strconv.Itoa(imageSize>>20)+"M")
	if err := os.Chmod(img, 0o444); err != nil {
		t.Fatal(err)
	}
	return img
}

func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// materialize returns a raw view of the disk: the file itself, or a raw
// conversion of a qcow2.
func materialize(t *testing.T, d Disk) string {
	t.Helper()
	if d.Format != "qcow2" {
		return d.Path
	}
	raw := filepath.Join(t.TempDir(), "disk.raw")
	run(t, "qemu-img", "convert", "-O", "raw", d.Path, raw)
	return raw
}

// writeAt0 writes 1 KiB of b at offset 0, the boot area ext4 leaves
// unused, through the disk's format.
func writeAt0(t *testing.T, d Disk, b byte) {
	t.Helper()
	if d.Format == "qcow2" {
		run(t, "qemu-io", "-f", "qcow2", "-c", "write -P "+strconv.Itoa(int(b))+" 0 1k", d.Path)
		return
	}
	f, err := os.OpenFile(d.Path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 1024)
	for i := range buf {
		buf[i] = b
	}
	if _, err := f.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
}

func readAt0(t *testing.T, path string) byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var b [1]byte
	if _, err := f.ReadAt(b[:], 512); err != nil {
		t.Fatal(err)
	}
	return b[0]
}

func catFile(t *testing.T, raw, path string) string {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), "debugfs", "-R", "cat "+path, raw).Output()
	if err != nil {
		t.Fatalf("debugfs cat %s: %v", path, err)
	}
	return string(out)
}

func fsck(t *testing.T, raw string) {
	t.Helper()
	run(t, "e2fsck", "-f", "-n", raw)
}

// fsBytes is the ext4's size: block count × block size (dumpe2fs -h).
func fsBytes(t *testing.T, raw string) int64 {
	t.Helper()
	var count, size int64
	for line := range strings.SplitSeq(run(t, "dumpe2fs", "-h", raw), "\n") {
		k, v, _ := strings.Cut(line, ":")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "Block count":
			count = n
		case "Block size":
			size = n
		}
	}
	return count * size
}

func hashFile(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

type imgInfo struct {
	Format          string `json:"format"`
	BackingFilename string `json:"backing-filename"`
	BackingFormat   string `json:"backing-filename-format"`
}

func qemuImgInfo(t *testing.T, p string) imgInfo {
	t.Helper()
	var info imgInfo
	if err := json.Unmarshal([]byte(run(t, "qemu-img", "info", "-U", "--output=json", p)), &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// xfsMount mounts a fresh XFS with reflink=1, made in a sparse file, on a
// loop device; cleanup unmounts it and checks the loop device is gone.
func xfsMount(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("mounts a file system")
	}
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "mkfs.xfs", "xfsprogs")
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "xfs.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 512<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.xfs", "-q", "-m", "reflink=1", img)
	run(t, "mount", "-o", "loop", img, mnt)
	t.Cleanup(func() {
		// Not t.Context: it is canceled by the time cleanups run.
		ctx := context.Background()
		if out, err := exec.CommandContext(ctx, "umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
		// mount -o loop attaches with autoclear: the device goes with the
		// mount. Detach it ourselves if it did not.
		out, _ := exec.CommandContext(ctx, "losetup", "-j", img).Output()
		if left := strings.TrimSpace(string(out)); left != "" {
			t.Errorf("loop device still attached after umount: %s", left)
			dev, _, _ := strings.Cut(left, ":")
			_ = exec.CommandContext(ctx, "losetup", "-d", dev).Run()
		}
	})
	return mnt
}
