package layerdiff

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// fakeRunner records commands and fails those whose argv[0]+argv[1]
// prefix is in fail.
type fakeRunner struct {
	calls []string
	fail  map[string]bool
}

func (f *fakeRunner) run(_ context.Context, argv []string) (string, error) {
	line := strings.Join(argv, " ")
	f.calls = append(f.calls, line)
	for prefix := range f.fail {
		if strings.HasPrefix(line, prefix) {
			return "", errors.New("boom")
		}
	}
	if argv[0] == "losetup" && argv[1] == "--find" {
		return "/dev/loop7\n", nil
	}
	return "", nil
}

// TestDiffReleasesWhatItMounts checks the commands Diff runs as values:
// both images attached read-only and mounted ro,noload,nodev,nosuid,
// noexec, and on every path — success, a failed mount, a failed attach,
// a busy unmount — each attached device detached and each mount undone.
func TestDiffReleasesWhatItMounts(t *testing.T) {
	mount := func(img, which string) []string {
		return []string{
			"losetup --find --show --read-only -- " + img,
			"mount -t ext4 -o ro,noload,nodev,nosuid,noexec -- /dev/loop7 " + which,
		}
	}
	release := func(which string) []string {
		return []string{"umount -- " + which, "losetup --detach /dev/loop7"}
	}
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	tests := []struct {
		name    string
		fail    []string
		want    func(lower, upper string) []string
		wantErr string
	}{{
		name: "success",
		want: func(l, u string) []string { return cat(mount("L", l), mount("U", u), release(u), release(l)) },
	}, {
		name: "the upper mount fails",
		fail: []string{"mount -t ext4 -o ro,noload,nodev,nosuid,noexec -- /dev/loop7 UPPER"},
		want: func(l, u string) []string {
			return cat(mount("L", l), mount("U", u), []string{"losetup --detach /dev/loop7"}, release(l))
		},
		wantErr: "mount U: is it an ext4 image?",
	}, {
		name:    "attaching lower fails",
		fail:    []string{"losetup --find --show --read-only -- L"},
		want:    func(l, _ string) []string { return mount("L", l)[:1] },
		wantErr: "attach L to a loop device",
	}, {
		name: "a busy unmount is made lazy",
		fail: []string{"umount -- LOWER"},
		want: func(l, u string) []string {
			return cat(mount("L", l), mount("U", u), release(u), []string{"umount -- " + l, "umount --lazy -- " + l, "losetup --detach /dev/loop7"})
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			lower, upper := filepath.Join(tmp, "banger-layerdiff-*", "lower"), filepath.Join(tmp, "banger-layerdiff-*", "upper")
			r := &fakeRunner{fail: map[string]bool{}}
			for _, f := range tc.fail {
				f = strings.ReplaceAll(f, "UPPER", upper)
				r.fail[strings.ReplaceAll(f, "LOWER", lower)] = true
			}
			_, err := Diff(t.Context(), "L", "U", &strings.Builder{}, Options{TmpDir: tmp, run: globRunner{r, tmp}})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want it to say %q", err, tc.wantErr)
			}
			if want := tc.want(lower, upper); !slices.Equal(r.calls, want) {
				t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(r.calls, "\n"), strings.Join(want, "\n"))
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("left %v in TmpDir", left)
			}
		})
	}
}

// globRunner replaces Diff's random temporary directory name in argv by
// "banger-layerdiff-*" so the commands compare as constants.
type globRunner struct {
	r   *fakeRunner
	tmp string
}

func (g globRunner) run(ctx context.Context, argv []string) (string, error) {
	out := make([]string, len(argv))
	for i, a := range argv {
		if rest, ok := strings.CutPrefix(a, g.tmp+"/banger-layerdiff-"); ok {
			_, sub, _ := strings.Cut(rest, "/")
			a = filepath.Join(g.tmp, "banger-layerdiff-*", sub)
		}
		out[i] = a
	}
	return g.r.run(ctx, out)
}

// TestDiffRefusesANonExt4File checks, with the real commands, that a file
// that is no ext4 image fails with a clear error and leaves no loop
// device and no mount behind.
func TestDiffRefusesANonExt4File(t *testing.T) {
	testutil.RequireRoot(t)
	testutil.RequireBinary(t, "losetup", "mount")
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.img")
	if err := os.WriteFile(junk, make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Diff(t.Context(), junk, junk, &strings.Builder{}, Options{TmpDir: dir})
	if err == nil || !strings.Contains(err.Error(), "is it an ext4 image?") {
		t.Fatalf("error %v, want a failed mount", err)
	}
	out, _ := execRunner{}.run(t.Context(), []string{"losetup", "--associated", junk})
	if strings.TrimSpace(out) != "" {
		t.Errorf("loop devices left on %s: %s", junk, out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left %v in TmpDir", entries)
	}
}
