package crash

import (
	"archive/tar"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/api"
)

// TestFullDisk runs a daemon whose --root is a small tmpfs and fills it
// during an image import, an image pull, a kernel import and a VM's disk
// creation (qemu-img): each must fail with an error that says the disk is
// full and names the file system, and leave nothing — no scratch, no
// partial download, no image, kernel or disk file, no record — and the VM
// must start once there is room.
func TestFullDisk(t *testing.T) {
	l := newLabOn(t, "320m")
	ids := map[string]bool{}
	noSpace := regexp.MustCompile(`(?i)no space left on device`)
	failsFull := func(t *testing.T, args ...string) string {
		t.Helper()
		out, errOut, code := l.cli(args...)
		if code == 0 {
			t.Fatalf("banger %s succeeded on a full disk:\n%s", strings.Join(args, " "), out)
		}
		if !noSpace.MatchString(errOut) || !strings.Contains(errOut, "the file system at "+l.root+", tmpfs of 320MiB, is full") {
			t.Errorf("banger %s: the error does not say that the file system at %s is full:\n%s", strings.Join(args, " "), l.root, errOut)
		}
		t.Logf("banger %s: %s", strings.Join(args, " "), strings.TrimSpace(errOut))
		return errOut
	}
	clean := func(t *testing.T) {
		t.Helper()
		v := l.look(t, ids)
		for _, s := range v.leaks() {
			t.Errorf("leak: %s", s)
		}
		if len(v.Images) != 1 || len(v.Kernels) != 1 || len(v.Host.Tmp) > 0 || len(v.Host.Ingest) > 0 {
			t.Errorf("left: images %v, kernels %v, scratch %v, downloads %v", v.Images, v.Kernels, v.Host.Tmp, v.Host.Ingest)
		}
	}
	t.Logf("free after the kernel and busybox: %d MiB", l.free(t)>>20)

	// Each case fills the root with a file first, leaving leave bytes,
	// so the data each one writes stays small.
	filler := filepath.Join(l.root, "filler")
	fill := func(t *testing.T, leave int64) {
		t.Helper()
		if out, err := exec.Command("fallocate", "-l", strconv.FormatInt(l.free(t)-leave, 10), filler).CombinedOutput(); err != nil {
			t.Fatalf("fallocate: %v %s", err, out)
		}
		t.Cleanup(func() { _ = os.Remove(filler) })
	}
	t.Run("image import", func(t *testing.T) {
		fill(t, 48<<20)
		failsFull(t, "image", "import", bigTar(t, 80<<20), "--name", "big")
		clean(t)
	})
	t.Run("image pull", func(t *testing.T) {
		fill(t, 48<<20)
		tarball, err := os.ReadFile(bigTar(t, 80<<20))
		if err != nil {
			t.Fatal(err)
		}
		failsFull(t, "image", "pull", serveTar(t, "crash/big:1", tarball, registrytest.Uncompressed))
		clean(t)
	})
	t.Run("kernel import", func(t *testing.T) {
		fill(t, 24<<20)
		errOut := failsFull(t, "kernel", "import", l.deb, "--name", "k2")
		if strings.Contains(errOut, "invalid argument") {
			t.Errorf("a full disk is reported as a bad kernel: %s", errOut)
		}
		clean(t)
	})
	t.Run("vm disk", func(t *testing.T) {
		fill(t, 64<<10)
		failsFull(t, "run", "-d", "--name", "full", "busybox")
		vm := mustInspect[api.VM](t, l, "inspect", "full")
		if vm.State == api.VMRunning {
			t.Fatalf("the VM runs on a full disk: %+v", vm)
		}
		// The disk fails before or after it is recorded: the shared grown
		// image is made first, and only its VM disk is recorded.
		if left := entries(l.layout.VM(vm.ID)); len(left) > 1 || len(left) == 1 && left[0] != "handles.json" {
			t.Errorf("vm directory after the failed start: %v, want at most its record", left)
		}
		if left, _ := filepath.Glob(filepath.Join(l.layout.Images(), "*", "*.tmp")); len(left) != 0 {
			t.Errorf("half-grown images left after the failed start: %v", left)
		}
		clean(t)
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		l.must(t, "start", "full")
		if out := l.must(t, "exec", "full", "--", "echo", "room"); out != "room\n" {
			t.Errorf("exec once there is room: %q", out)
		}
		l.must(t, "rm", "-f", "full")
		clean(t)
	})
}

// free is the free space of the lab's root.
func (l *lab) free(t *testing.T) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(l.root, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize //nolint:unconvert // int64 on some arches only
}

// bigTar writes a root file system tarball holding one incompressible
// file of size bytes, outside the lab's root.
func bigTar(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "big.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		_, _ = rng.Read(buf)
		if _, err := tw.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}
