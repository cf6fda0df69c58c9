package layerdiff

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/procfs"
	"github.com/bangerdev/banger/internal/testutil"
)

// TestSweepPlan: only mount points under tmp inside a Diff's directory
// are unmounted, lazily, deepest first; a mount elsewhere under tmp, one
// outside tmp and one under a directory that merely starts like tmp stay.
func TestSweepPlan(t *testing.T) {
	mounts := []procfs.MountInfo{
		{Point: "/var/lib/banger/tmp/build-1/banger-layerdiff-7/lower"},
		{Point: "/var/lib/banger/tmp/banger-commit-2/banger-layerdiff-9/upper"},
		{Point: "/var/lib/banger/tmp/build-1/banger-layerdiff-7/lower/nested"},
		{Point: "/var/lib/banger/tmp/other/mnt"},
		{Point: "/var/lib/banger/tmp2/banger-layerdiff-1/lower"},
		{Point: "/mnt/banger-layerdiff-3/lower"},
		{Point: "/var/lib/banger/tmp/build-1/banger-layerdiff-7/lower"}, // mounted twice
	}
	got := sweepPlan(mounts, "/var/lib/banger/tmp/")
	want := [][]string{
		lazyUmountArgv("/var/lib/banger/tmp/build-1/banger-layerdiff-7/lower/nested"),
		lazyUmountArgv("/var/lib/banger/tmp/build-1/banger-layerdiff-7/lower"),
		lazyUmountArgv("/var/lib/banger/tmp/banger-commit-2/banger-layerdiff-9/upper"),
	}
	if !slices.EqualFunc(got, want, slices.Equal[[]string]) {
		t.Errorf("plan:\n%q\nwant:\n%q", got, want)
	}
}

// TestSweepUndoesACrashedDiff: a Diff's image left mounted (its process
// killed before it unmounted) is unmounted by Sweep, its autoclear loop
// device goes with it, and the scratch directory can then be removed.
func TestSweepUndoesACrashedDiff(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "mkfs.ext4", "e2fsprogs")
	tmp := t.TempDir()
	img := filepath.Join(tmp, "image.ext4")
	if out, err := exec.Command("mkfs.ext4", "-q", img, "8M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	point := filepath.Join(tmp, "build-1", mountDirPrefix+"x", "lower")
	if err := os.MkdirAll(point, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := mountRO(t.Context(), execRunner{}, attachLoop, img, point); err != nil {
		t.Fatal(err)
	}
	if !mounted(t, point) {
		t.Fatal("the image is not mounted")
	}
	n, err := Sweep(t.Context(), tmp)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 mount undone", n, err)
	}
	if mounted(t, point) {
		t.Error("the image is still mounted")
	}
	if out, _ := (execRunner{}).run(t.Context(), []string{"losetup", "--associated", img}); strings.TrimSpace(out) != "" {
		t.Errorf("loop device left on the image: %s", out)
	}
	if err := os.RemoveAll(filepath.Join(tmp, "build-1")); err != nil {
		t.Errorf("remove the scratch directory after the sweep: %v", err)
	}
}

func mounted(t *testing.T, point string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	ms, err := procfs.ParseMountinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(ms, func(m procfs.MountInfo) bool { return m.Point == point })
}
