package layerdiff

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// fakeRunner records commands, and the loop devices attach gives and
// their holds' closing, and fails the calls whose line starts with one
// in fail.
type fakeRunner struct {
	calls []string
	fail  map[string]bool
}

func (f *fakeRunner) record(line string) error {
	f.calls = append(f.calls, line)
	for prefix := range f.fail {
		if strings.HasPrefix(line, prefix) {
			return errors.New("boom")
		}
	}
	return nil
}

func (f *fakeRunner) run(_ context.Context, argv []string) (string, error) {
	return "", f.record(strings.Join(argv, " "))
}

func (f *fakeRunner) attach(file string) (string, io.Closer, error) {
	if err := f.record("attach " + file); err != nil {
		return "", nil, err
	}
	return "/dev/loop7", closer(func() error { return f.record("close /dev/loop7 of " + file) }), nil
}

type closer func() error

func (c closer) Close() error { return c() }

// TestDiffReleasesWhatItMounts checks the commands Diff runs as values:
// both images attached and mounted ro,noload,nodev,nosuid,noexec, and on
// every path — success, a failed mount, a failed attach, a busy unmount —
// each loop device's hold closed once its mount is tried (the autoclear
// device then goes with the mount) and each mount undone.
func TestDiffReleasesWhatItMounts(t *testing.T) {
	mount := func(img, which string) []string {
		return []string{
			"attach " + img,
			"mount -t ext4 -o ro,noload,nodev,nosuid,noexec -- /dev/loop7 " + which,
			"close /dev/loop7 of " + img,
		}
	}
	release := func(which string) []string { return []string{"umount -- " + which} }
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
		name:    "the upper mount fails",
		fail:    []string{"mount -t ext4 -o ro,noload,nodev,nosuid,noexec -- /dev/loop7 UPPER"},
		want:    func(l, u string) []string { return cat(mount("L", l), mount("U", u), release(l)) },
		wantErr: "mount U: is it an ext4 image?",
	}, {
		name:    "attaching lower fails",
		fail:    []string{"attach L"},
		want:    func(l, _ string) []string { return mount("L", l)[:1] },
		wantErr: "attach L to a loop device",
	}, {
		name: "a busy unmount is made lazy",
		fail: []string{"umount -- LOWER"},
		want: func(l, u string) []string {
			return cat(mount("L", l), mount("U", u), release(u), []string{"umount -- " + l, "umount --lazy -- " + l})
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
			_, err := Diff(t.Context(), "L", "U", &strings.Builder{}, Options{TmpDir: tmp, run: globRunner{r, tmp}, attach: r.attach})
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
