package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestChoose(t *testing.T) {
	no := errors.New("no")
	all := Capabilities{}
	none := Capabilities{Reflink: no, QemuImg: no, DM: no}
	tests := []struct {
		name string
		req  Request
		caps Capabilities
		want string
		err  error
	}{
		{"raw-only VMM prefers dm", Request{}, all, DMSnapshot, nil},
		{"dm grows too", Request{QCOW2: false, ImageSize: 10, SizeBytes: 20}, all, DMSnapshot, nil},
		{"qcow2 VMM prefers reflink", Request{QCOW2: true}, all, Reflink, nil},
		{"qcow2 VMM without reflink", Request{QCOW2: true}, Capabilities{Reflink: no}, QCOW2, nil},
		{"qcow2 VMM growing without reflink", Request{QCOW2: true, ImageSize: 1, SizeBytes: 2}, Capabilities{Reflink: no}, QCOW2, nil},
		{"configured qcow2 with --disk", Request{QCOW2: true, Strategy: QCOW2, ImageSize: 1, SizeBytes: 2}, all, QCOW2, nil},
		{"raw-only VMM without dm or reflink copies", Request{}, Capabilities{Reflink: no, DM: no}, Copy, nil},
		{"nothing works but copy", Request{QCOW2: true}, none, Copy, nil},
		{"configured copy", Request{QCOW2: true, Strategy: Copy}, all, Copy, nil},
		{"configured qcow2 with a raw-only VMM", Request{QCOW2: false, Strategy: QCOW2}, all, "", errdefs.ErrUnsupported},
		{"configured reflink where unsupported", Request{QCOW2: true, Strategy: Reflink}, none, "", no},
		{"configured dm with --disk", Request{QCOW2: false, Strategy: DMSnapshot, ImageSize: 1, SizeBytes: 2}, all, DMSnapshot, nil},
		{"unknown", Request{Strategy: "zfs"}, all, "", errdefs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Choose(tt.req, tt.caps)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Choose = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestCommandLines(t *testing.T) {
	if got, want := qcow2Argv("/img/rootfs.ext4", "/vm/disk.qcow2"), []string{"qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", "/img/rootfs.ext4", "/vm/disk.qcow2"}; !slices.Equal(got, want) {
		t.Errorf("qcow2Argv = %q", got)
	}
	want := [][]string{{"tune2fs", "-O", "uninit_bg", "/i.8"}, {"e2fsck", "-fy", "/i.8"}, {"resize2fs", "/i.8"}}
	if got := growArgv("/i.8"); !reflect.DeepEqual(got, want) {
		t.Errorf("growArgv = %q", got)
	}
}

// image makes a small ext4 image holding /hello in dataDir (where the
// daemon keeps images, on the same file system as the VMs' disks), as the
// image pipeline would (mkfs.ext4 -d).
func image(t *testing.T, dataDir string) (string, int64) {
	t.Helper()
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	dir, err := os.MkdirTemp(dataDir, "image-") //nolint:usetesting // on the file system under test, not t.TempDir's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "hello"), []byte("from the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "rootfs.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-d", tree, img, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	fi, _ := os.Stat(img)
	return img, fi.Size()
}

func digest(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// conformance is what every strategy must do: create from the image
// (recorded first), take writes without touching the image, grow, and
// leave nothing after Remove.
func conformance(t *testing.T, strategy, dataDir string) {
	t.Helper()
	img, size := image(t, dataDir)
	before := digest(t, img)
	m := New()
	for _, grow := range []bool{false, true} {
		t.Run(fmt.Sprintf("grow=%v", grow), func(t *testing.T) {
			dir, err := os.MkdirTemp(dataDir, "vm-") //nolint:usetesting // on the file system under test
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = os.RemoveAll(dir) }()
			req := Request{VMID: "0123456789ab", Image: img, ImageSize: size, Dir: dir, QCOW2: true}
			if grow {
				req.SizeBytes = 3 * size
			}
			var recorded []Disk
			d, err := m.Create(context.Background(), req, strategy, func(d Disk) error {
				if _, err := os.Stat(d.Path); err == nil {
					t.Errorf("record called after %s existed", d.Path)
				}
				recorded = append(recorded, d)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(recorded) != 1 || recorded[0].Path != d.Path || d.Strategy != strategy {
				t.Fatalf("recorded %+v, disk %+v", recorded, d)
			}
			writeAndCheck(t, d)
			if got := digest(t, img); got != before {
				t.Fatal("a write to the VM's disk changed the shared image")
			}
			checkSize(t, d, req)
			if err := m.Remove(context.Background(), req.VMID, dir); err != nil {
				t.Fatal(err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("Remove left %v", left)
			}
		})
	}
}

// writeAndCheck writes a file into the disk and reads it back, and reads the
// image's file through the disk.
func writeAndCheck(t *testing.T, d Disk) {
	t.Helper()
	if d.Format == "qcow2" {
		testutil.RequireBinary(t, "qemu-io", "qemu-utils")
		if out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", d.Path).CombinedOutput(); err != nil {
			t.Fatalf("qemu-io write: %v %s", err, out)
		}
		if out, err := exec.Command("qemu-io", "-f", "qcow2", "-c", "read -P 0x5a 0 64k", d.Path).CombinedOutput(); err != nil || strings.Contains(string(out), "Pattern verification failed") {
			t.Fatalf("qemu-io read back: %v %s", err, out)
		}
		return
	}
	src := filepath.Join(t.TempDir(), "new")
	if err := os.WriteFile(src, []byte("written in the clone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("debugfs", "-w", "-R", "write "+src+" new", d.Path).CombinedOutput(); err != nil {
		t.Fatalf("debugfs write: %v %s", err, out)
	}
	for file, want := range map[string]string{"/new": "written in the clone\n", "/hello": "from the image\n"} {
		out, err := exec.Command("debugfs", "-R", "cat "+file, d.Path).Output()
		if err != nil || string(out) != want {
			t.Errorf("%s in the disk: %q, %v", file, out, err)
		}
	}
}

// checkSize asserts the disk (the block device the guest sees) has the
// requested size and holds a clean file system of that size, grown from
// the image without allocating it.
func checkSize(t *testing.T, d Disk, req Request) {
	t.Helper()
	want := req.size()
	fsImage := d.Path
	if d.Format == "qcow2" {
		out, err := exec.Command("qemu-img", "info", "--output=json", "--backing-chain", d.Path).Output()
		if err != nil {
			t.Fatal(err)
		}
		var chain []struct {
			Filename    string `json:"filename"`
			VirtualSize int64  `json:"virtual-size"`
		}
		_ = json.Unmarshal(out, &chain)
		if len(chain) != 2 || chain[0].VirtualSize != want {
			t.Fatalf("qcow2 chain %+v, want an overlay of %d bytes on one base", chain, want)
		}
		fsImage = chain[1].Filename
	}
	fi, err := os.Stat(fsImage)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != want {
		t.Errorf("%s is %d bytes, want %d", fsImage, fi.Size(), want)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && req.grows() && st.Blocks*512 > want/4 {
		t.Errorf("grown image allocates %d of %d bytes: growing must stay sparse", st.Blocks*512, want)
	}
	if out, err := exec.Command("e2fsck", "-fn", fsImage).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
	out, err := exec.Command("dumpe2fs", "-h", fsImage).Output()
	if err != nil {
		t.Fatal(err)
	}
	var blocks, bsize int64
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(l, "Block count:"); ok {
			_, _ = fmt.Sscan(v, &blocks)
		}
		if v, ok := strings.CutPrefix(l, "Block size:"); ok {
			_, _ = fmt.Sscan(v, &bsize)
		}
	}
	if blocks*bsize != want {
		t.Errorf("file system is %d bytes, want %d", blocks*bsize, want)
	}
}

func TestCopyStrategy(t *testing.T) { conformance(t, Copy, t.TempDir()) }
func TestQCOW2Strategy(t *testing.T) {
	testutil.RequireBinary(t, "qemu-img", "qemu-utils")
	conformance(t, QCOW2, t.TempDir())
}

// TestReflinkStrategy runs the conformance on a loop-mounted XFS with
// reflinks, and checks Probe tells it apart from a file system without.
func TestReflinkStrategy(t *testing.T) {
	mnt := xfsMount(t)
	dir := filepath.Dir(mnt)
	if c := Probe(mnt); c.Reflink != nil {
		t.Fatalf("Probe on XFS with reflink=1: %v", c.Reflink)
	}
	if c := Probe(dir); c.Reflink == nil {
		fs, _ := exec.Command("stat", "-f", "-c", "%T", dir).Output()
		t.Logf("the temp dir (%s) supports reflinks too", strings.TrimSpace(string(fs)))
	} else if !errors.Is(c.Reflink, errdefs.ErrUnsupported) {
		t.Errorf("Probe's refusal should wrap ErrUnsupported: %v", c.Reflink)
	}
	conformance(t, Reflink, mnt)
}

func TestDMSnapshotStrategy(t *testing.T) {
	if c := Probe(t.TempDir()); c.DM != nil {
		t.Skipf("device-mapper is not available on this host: %v", c.DM)
	}
	conformanceDM(t)
}

// conformanceDM checks a dm-snapshot disk where device-mapper exists.
func conformanceDM(t *testing.T) {
	dir := t.TempDir()
	img, size := image(t, dir)
	before := digest(t, img)
	m := New()
	req := Request{VMID: "0123456789ab", Image: img, ImageSize: size, Dir: dir, QCOW2: false}
	d, err := m.Create(context.Background(), req, DMSnapshot, func(Disk) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	writeAndCheck(t, d)
	if digest(t, img) != before {
		t.Fatal("a write to the snapshot changed the image")
	}
	if err := m.Remove(context.Background(), req.VMID, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path); err == nil {
		t.Errorf("%s still exists", d.Path)
	}
}

// countingRunner runs commands and counts them by program.
type countingRunner struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countingRunner) Run(ctx context.Context, argv []string) ([]byte, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[argv[0]]++
	c.mu.Unlock()
	return execRunner{}.Run(ctx, argv)
}

// VMs of one image and disk size share one grown image, made once even
// when they start together; no temporary file is left.
func TestSizedImageIsMadeOnceAndShared(t *testing.T) {
	data := t.TempDir()
	img, size := image(t, data)
	run := &countingRunner{}
	m := New()
	m.run = run
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			dir := filepath.Join(data, fmt.Sprintf("vm%d", i))
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Error(err)
				return
			}
			req := Request{VMID: fmt.Sprintf("vm%d", i), Image: img, ImageSize: size, Dir: dir, SizeBytes: 4 * size}
			if _, err := m.Create(context.Background(), req, Copy, func(Disk) error { return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if run.n["resize2fs"] != 1 {
		t.Fatalf("resize2fs ran %d times for one image and size", run.n["resize2fs"])
	}
	matches, _ := filepath.Glob(img + ".*")
	if len(matches) != 1 || matches[0] != SizedPath(img, 4*size) {
		t.Fatalf("files next to the image: %v", matches)
	}
}
