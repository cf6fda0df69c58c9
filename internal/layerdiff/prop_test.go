package layerdiff_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/layerdiff"
	"github.com/bangerdev/banger/internal/testutil"
)

// mutator makes random changes to a tree: files written, rewritten with
// their mtime restored, removed, replaced by directories or symlinks,
// linked again, chmod'ed, chown'ed, given xattrs.
type mutator struct {
	t    *testing.T
	r    *rand.Rand
	root string
}

func (m *mutator) path() string {
	names := []string{"a", "b", "c", "d"}
	n := 1 + m.r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = names[m.r.IntN(len(names))]
	}
	return filepath.Join(parts...)
}

// existing picks a path that exists, "" when none does.
func (m *mutator) existing(regular bool) string {
	for range 20 {
		p := m.path()
		fi, err := os.Lstat(filepath.Join(m.root, p))
		if err == nil && (!regular || fi.Mode().IsRegular()) {
			return p
		}
	}
	return ""
}

func (m *mutator) step() {
	at := func(p string) string { return filepath.Join(m.root, p) }
	p := m.path()
	ignore := func(error) {} // a step on a path that does not fit is just a no-op
	switch m.r.IntN(10) {
	case 0, 1:
		ignore(os.MkdirAll(filepath.Dir(at(p)), 0o755))
		ignore(os.WriteFile(at(p), []byte(fmt.Sprint(m.r.Int())), 0o644))
	case 2:
		ignore(os.RemoveAll(at(m.existing(false))))
	case 3:
		ignore(os.MkdirAll(at(p), os.FileMode(0o700+m.r.IntN(0o77))))
	case 4:
		ignore(os.MkdirAll(filepath.Dir(at(p)), 0o755))
		ignore(os.RemoveAll(at(p)))
		ignore(os.Symlink(m.path(), at(p)))
	case 5:
		if src := m.existing(true); src != "" {
			ignore(os.MkdirAll(filepath.Dir(at(p)), 0o755))
			ignore(os.Link(at(src), at(p)))
		}
	case 6:
		if q := m.existing(false); q != "" {
			ignore(unix.Fchmodat(unix.AT_FDCWD, at(q), uint32(m.r.IntN(0o7777)), 0))
		}
	case 7:
		if q := m.existing(false); q != "" {
			ignore(os.Lchown(at(q), m.r.IntN(3)*1000, m.r.IntN(3)*1000))
		}
	case 8:
		if q := m.existing(true); q != "" {
			ignore(unix.Lsetxattr(at(q), "user.k", []byte(fmt.Sprint(m.r.IntN(3))), 0))
		}
	case 9:
		// Same size, mtime put back: only the content tells.
		if q := m.existing(true); q != "" {
			fi, err := os.Stat(at(q))
			if err == nil {
				b, _ := os.ReadFile(at(q))
				for i := range b {
					b[i] ^= 1
				}
				ignore(os.WriteFile(at(q), b, 0))
				ignore(os.Chtimes(at(q), fi.ModTime(), fi.ModTime()))
			}
		}
	}
	// Distinct mtimes, so a missed entry shows in the model.
	if q := m.existing(false); q != "" {
		ts := time.Unix(int64(1_700_000_000+m.r.IntN(1_000_000)), int64(m.r.IntN(1e9)))
		ignore(unix.UtimesNanoAt(unix.AT_FDCWD, at(q), []unix.Timespec{unix.NsecToTimespec(ts.UnixNano()), unix.NsecToTimespec(ts.UnixNano())}, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func diffTrees(t *testing.T, lower, upper string) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := layerdiff.DiffTrees(t.Context(), lower, upper, &b, layerdiff.Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDiffTreesRoundTrip is the property: for random trees and random
// changes, Flatten(full export of lower, Diff(lower, upper)) is upper,
// and two diffs of the same trees are byte identical.
func TestDiffTreesRoundTrip(t *testing.T) {
	testutil.RequireRoot(t) // chown
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for seed := range rounds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(seed), 15))
			base := t.TempDir()
			empty, lower, upper := filepath.Join(base, "empty"), filepath.Join(base, "lower"), filepath.Join(base, "upper")
			for _, d := range []string{empty, lower} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			lm := &mutator{t: t, r: r, root: lower}
			for range 25 {
				lm.step()
			}
			if out, err := exec.CommandContext(t.Context(), "cp", "-a", lower, upper).CombinedOutput(); err != nil {
				t.Fatalf("cp -a: %v: %s", err, out)
			}
			um := &mutator{t: t, r: r, root: upper}
			for range 1 + r.IntN(12) {
				um.step()
			}
			full := diffTrees(t, empty, lower)
			sameModel(t, tarModel(t, flatten(t, full)), dirModel(t, lower))
			layer := diffTrees(t, lower, upper)
			sameModel(t, tarModel(t, flatten(t, full, layer)), dirModel(t, upper))
			if again := diffTrees(t, lower, upper); !bytes.Equal(again, layer) {
				t.Error("two diffs of the same trees differ")
			}
			if t.Failed() {
				t.Logf("layer:\n%s", strings.Join(names(t, layer), "\n"))
			}
		})
	}
}

func names(t *testing.T, layer []byte) []string {
	var out []string
	for _, m := range members(t, layer) {
		out = append(out, fmt.Sprintf("%c %s %s", m.Type, m.Name, m.Link))
	}
	return out
}
