package rootfs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestRawCopyCommandLines(t *testing.T) {
	if got, want := qcow2ToRawArgv("/vm/disk.qcow2", "/tmp/copy"), []string{"qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", "/vm/disk.qcow2", "/tmp/copy"}; !slices.Equal(got, want) {
		t.Errorf("qcow2ToRawArgv = %q", got)
	}
	if got, want := replayJournalArgv("/tmp/copy"), []string{"e2fsck", "-E", "journal_only", "-p", "/tmp/copy"}; !slices.Equal(got, want) {
		t.Errorf("replayJournalArgv = %q", got)
	}
}

// features is the ext4 file system features dumpe2fs lists for img.
func features(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("dumpe2fs", "-h", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v %s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Filesystem features:"); ok {
			return v
		}
	}
	return ""
}

// TestRawCopyOfAMountedDisk copies a raw disk whose file system is
// mounted and synced, as a running guest's is: the copy's journal still
// holds what was written, and RawCopy replays it so the file is in place.
func TestRawCopyOfAMountedDisk(t *testing.T) {
	testutil.RequireRoot(t)
	img, _ := image(t, t.TempDir())
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v %s", err, out)
		}
	})
	if err := os.WriteFile(filepath.Join(mnt, "written"), []byte("in the guest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	unix.Sync()
	if !strings.Contains(features(t, img), "needs_recovery") {
		t.Fatal("the mounted image is clean; the test would not exercise the journal replay")
	}
	dst := filepath.Join(t.TempDir(), "copy.raw")
	if err := New().RawCopy(t.Context(), Disk{Path: img, Format: "raw", Strategy: Copy}, dst); err != nil {
		t.Fatal(err)
	}
	if f := features(t, dst); strings.Contains(f, "needs_recovery") {
		t.Errorf("the copy still needs recovery: %s", f)
	}
	if got := debugfsCat(t, dst, "/written"); got != "in the guest\n" {
		t.Errorf("the copy holds %q", got)
	}
	if out, err := exec.Command("e2fsck", "-fn", dst).CombinedOutput(); err != nil {
		t.Errorf("e2fsck of the copy: %v %s", err, out)
	}
}

// TestRawCopyOfAQCOW2Disk reads an overlay through its backing image.
func TestRawCopyOfAQCOW2Disk(t *testing.T) {
	testutil.RequireBinary(t, "qemu-img", "qemu-utils")
	testutil.RequireBinary(t, "qemu-io", "qemu-utils")
	data := t.TempDir()
	img, size := image(t, data)
	m := New()
	d, err := m.Create(t.Context(), Request{VMID: "src", Image: img, ImageSize: size, Dir: data, QCOW2: true}, QCOW2, func(Disk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	qemuIO(t, d.Path, "write -P 0x5a 0 512") // the boot sector, which ext4 leaves alone
	dst := filepath.Join(t.TempDir(), "copy.raw")
	if err := m.RawCopy(t.Context(), d, dst); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != size || !bytes.Equal(b[:512], bytes.Repeat([]byte{0x5a}, 512)) {
		t.Errorf("copy: %d bytes (want %d), first bytes %x", len(b), size, b[:8])
	}
	if got := debugfsCat(t, dst, "/hello"); got != "from the image\n" {
		t.Errorf("the image's file reads %q through the copy", got)
	}
}

// TestRawCopyOfADevice copies a running dm-snapshot VM's disk the way it
// is read: a block device (here a loop device), zero blocks left as holes.
func TestRawCopyOfADevice(t *testing.T) {
	testutil.RequireRoot(t)
	img, size := image(t, t.TempDir())
	out, err := exec.Command("losetup", "--find", "--show", "--read-only", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = exec.Command("losetup", "--detach", dev).Run() })
	dst := filepath.Join(t.TempDir(), "copy.raw")
	if err := New().RawCopy(t.Context(), Disk{Path: dev, Format: "raw", Strategy: DMSnapshot}, dst); err != nil {
		t.Fatal(err)
	}
	if digest(t, dst) != digest(t, img) {
		t.Error("the copy differs from the device")
	}
	if fi, _ := os.Stat(dst); fi.Size() != size || allocated(t, dst) >= size/2 {
		t.Errorf("copy: %d bytes, %d allocated; want %d, sparse", fi.Size(), allocated(t, dst), size)
	}
}

// A stopped dm-snapshot VM's disk is only its COW file: refused, with
// what to do.
func TestRawCopyRefusesAStoppedDMSnapshotDisk(t *testing.T) {
	dir := t.TempDir()
	cow := filepath.Join(dir, "disk.cow")
	if err := os.WriteFile(cow, []byte("cow"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "copy")
	err := New().RawCopy(context.Background(), Disk{Path: cow, Format: "raw", Strategy: DMSnapshot}, dst)
	if !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "start the VM") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dst left behind: %v", err)
	}
}
