package volumes

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bangerdev/banger/internal/hostaccess"
	"github.com/bangerdev/banger/internal/rootfs/dmsnap"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func TestPodImageDirRefusesPaths(t *testing.T) {
	for _, id := range []string{"", ".", "..", "a/b", "../x", "a,b", "a:b", strings.Repeat("x", 129)} {
		if _, err := PodImageDir("/pod", id); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("PodImageDir(%q) = %v, want ErrInvalid", id, err)
		}
	}
	if got, err := PodImageDir("/pod", "0123abc"); err != nil || got != "/pod/0123abc" {
		t.Errorf("PodImageDir = %q, %v", got, err)
	}
}

// sees starts a process as a share's virtiofsd is started (startServed:
// a mount namespace of its own, its mounts slaves of this one's as they
// are now, dir bound on root), which prints root/rel's content once it
// can read it, or "unseen" after a while. It returns the process's
// output once it said it is ready.
func sees(t *testing.T, dir, root, rel string) (*exec.Cmd, io.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c",
		`echo ready; for i in $(seq 60); do if [ -e "$1" ]; then cat "$1"; exit 0; fi; sleep 0.05; done; echo unseen`, "sh", filepath.Join(root, rel))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := startServed(Share{Dir: dir, Caller: hostaccess.Root}, root, cmd); err != nil {
		t.Fatal(err)
	}
	ready := make([]byte, 6)
	if _, err := io.ReadFull(out, ready); err != nil || string(ready) != "ready\n" {
		t.Fatalf("namespace: %q, %v", ready, err)
	}
	return cmd, out
}

// A container's image mounted under a shared pod share after its
// virtiofsd's namespace was made reaches that namespace, where the share
// is served; under a directory that is not a shared mount it does not,
// which is why the share is made shared first. The lazy unmount frees
// the loop device.
func TestPodImagePropagatesOnlyUnderASharedShare(t *testing.T) {
	testutil.RequireRoot(t)
	mkfs := testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	tree, tmp := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "marker"), []byte("in the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(tmp, "c.ext4")
	if out, err := exec.Command(mkfs, "-q", "-d", tree, img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs: %v\n%s", err, out)
	}
	label := "banger-podshare-test"
	attach := func(image string) (string, io.Closer, error) { return dmsnap.AttachLoop(image, label, true) }

	for _, shared := range []bool{true, false} {
		dir := filepath.Join(tmp, "share")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if shared {
			if err := MakePod(dir); err != nil {
				t.Fatal(err)
			}
		}
		target, _ := PodImageDir(dir, "c1")
		cmd, out := sees(t, dir, filepath.Join(tmp, "served"), "c1/marker")
		if err := MountPodImage(img, target, attach); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(out)
		_ = cmd.Wait()
		want := "unseen\n"
		if shared {
			want = "in the image\n"
		}
		if string(rest) != want {
			t.Errorf("shared=%v: the other namespace says %q, want %q", shared, rest, want)
		}
		if err := UnmountPodImage(target); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(target); !os.IsNotExist(err) {
			t.Errorf("shared=%v: %s after the unmount: %v", shared, target, err)
		}
		if err := ReleasePod(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("shared=%v: the share %s after its release: %v", shared, dir, err)
		}
		if err := ReleasePod(dir); err != nil {
			t.Errorf("shared=%v: a second release: %v, want none", shared, err)
		}
		if err := UnmountPodImage(target); err != nil {
			t.Errorf("a second unmount: %v, want none", err)
		}
	}
	// autoclear: with the mounts gone, so is the loop device.
	time.Sleep(100 * time.Millisecond)
	if out, _ := exec.Command("losetup", "-j", img).Output(); len(out) != 0 {
		t.Errorf("loop devices left on %s: %s", img, out)
	}
}

func TestPodMountFlag(t *testing.T) {
	m, err := ParseMountFlag("type=pod,target=/run/pod/")
	if err != nil || m != (Mount{Type: TypePod, Target: "/run/pod"}) || m.Flag() != "--mount type=pod,target=/run/pod" {
		t.Fatalf("ParseMountFlag = %+v, %v", m, err)
	}
	for _, s := range []string{"type=pod,source=/x,target=/p", "type=pod,target=/p,readonly", "type=pod"} {
		if _, err := ParseMountFlag(s); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("ParseMountFlag(%q) = %v, want ErrInvalid", s, err)
		}
	}
	two := []Mount{{Type: TypePod, Target: "/a"}, {Type: TypePod, Target: "/b"}}
	if err := Check(two); !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "one pod share") {
		t.Errorf("Check of two pod shares = %v", err)
	}
}
