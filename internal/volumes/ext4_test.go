package volumes

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/ext4sb"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/units"
)

// The plan is a value: a copy of a directory keeps its root's owner and
// mode and loses lost+found; an empty volume only loses lost+found.
func TestMkfsPlan(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o750|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	root, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	uid, gid := os.Getuid(), os.Getgid()
	plan := mkfsPlan("/v/img.ext4", 96*units.MiB, "u-u-i-d", dir, root, 5000)
	want := []string{"mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0", "-U", "u-u-i-d",
		"-E", "lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1,root_owner=" + itoa(uid) + ":" + itoa(gid),
		"-N", "5000", "-d", dir, "/v/img.ext4", "98304k"}
	if len(plan) != 2 || !slices.Equal(plan[0].argv, want) {
		t.Fatalf("mkfs argv\n got %q\nwant %q", plan[0].argv, want)
	}
	if plan[1].stdin != "sif / mode 041750\nrmdir lost+found\n" || !slices.Equal(plan[1].argv, []string{"debugfs", "-w", "-f", "-", "/v/img.ext4"}) {
		t.Fatalf("debugfs step %+v", plan[1])
	}
	empty := mkfsPlan("/v/vol.ext4", 10*units.GiB, "u", "", nil, 0)
	if slices.Contains(empty[0].argv, "-d") || slices.Contains(empty[0].argv, "-N") || empty[1].stdin != "rmdir lost+found\n" {
		t.Fatalf("empty volume plan %+v", empty)
	}
}

func TestImageSize(t *testing.T) {
	for _, tt := range []struct {
		c         content
		requested int64
		want      int64
	}{
		{content{bytes: 4096}, 0, minImageSize + units.MiB},
		{content{bytes: 400 * units.MiB}, 0, 564 * units.MiB},
		{content{bytes: 400 * units.MiB}, 1*units.GiB + 1, 1*units.GiB + units.MiB},
	} {
		if got := imageSize(tt.c, tt.requested); got != tt.want {
			t.Errorf("imageSize(%+v, %d) = %d, want %d", tt.c, tt.requested, got, tt.want)
		}
	}
}

// BuildImage copies a directory into an ext4 with its owners, modes and
// links, the root included, with the UUID it reports.
func TestBuildImageKeepsOwners(t *testing.T) {
	testutil.RequireRoot(t)
	debugfs := testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	dir := filepath.Join(t.TempDir(), "site")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	for p, owner := range map[string]int{dir: 1234, filepath.Join(dir, "sub"): 1234, filepath.Join(dir, "sub", "f"): 99} {
		if err := os.Chown(p, owner, owner+1); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "img.ext4")
	uuid, err := BuildImage(context.Background(), dir, img, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ext4sb.FileUUID(img); err != nil || got != uuid {
		t.Fatalf("image UUID %q, %v; BuildImage said %q", got, err, uuid)
	}
	stat := func(p string) string {
		out, err := exec.CommandContext(t.Context(), debugfs, "-R", "stat "+p, img).CombinedOutput()
		if err != nil {
			t.Fatalf("debugfs stat %s: %v\n%s", p, err, out)
		}
		return string(out)
	}
	for p, want := range map[string]string{
		"/":      `Mode:  0750.*\nGeneration.*\nUser:  1234   Group:  1235`,
		"/sub/f": `Mode:  0640.*\nGeneration.*\nUser:    99   Group:   100.*Size: 6`,
	} {
		if out := stat(p); !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("stat %s:\n%s\nwant %s", p, out, want)
		}
	}
	if out := stat("/l"); !strings.Contains(out, `Fast link dest: "sub/f"`) {
		t.Errorf("symlink:\n%s", out)
	}
	if out, _ := exec.CommandContext(t.Context(), debugfs, "-R", "ls /", img).CombinedOutput(); strings.Contains(string(out), "lost+found") {
		t.Errorf("lost+found kept:\n%s", out)
	}
	if out, err := exec.CommandContext(t.Context(), testutil.RequireBinary(t, "e2fsck", "e2fsprogs"), "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck: %v\n%s", err, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// mkfs failing for want of host space says which file system is full,
// keeps the tool's error and leaves no file behind.
func TestMakeExt4NamesAFullFileSystem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "volume.ext4")
	mkfsErr := errors.New("mkfs.ext4 (make the file system): exit status 1: No space left on device while writing out and closing file system")
	failing := func(context.Context, []string, string, string) error { return mkfsErr }
	_, err := makeExt4(context.Background(), failing, path, 32*units.MiB, "", 0)
	if !errors.Is(err, mkfsErr) || !strings.Contains(err.Error(), "is full") || !strings.Contains(err.Error(), "free space there") {
		t.Errorf("makeExt4 = %v; want %v naming the full file system", err, mkfsErr)
	}
	if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("%s left after the failure: %v", path, serr)
	}
}
