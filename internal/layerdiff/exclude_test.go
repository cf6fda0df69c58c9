package layerdiff_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/layerdiff"
)

// writeTree makes files (path → content; "->target" makes a symlink)
// under root.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		abs := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Remove(abs)
		var err error
		if target, ok := cutLink(content); ok {
			err = os.Symlink(target, abs)
		} else {
			err = os.WriteFile(abs, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func cutLink(s string) (string, bool) {
	if len(s) > 2 && s[:2] == "->" {
		return s[2:], true
	}
	return "", false
}

// The files banger writes at boot are in no layer: /.banger, hostname,
// resolv.conf, and the file resolv.conf links to (the agent writes
// through the link) — but a link to a directory hides nothing.
func TestDiffTreesLeavesOutBangersFiles(t *testing.T) {
	for _, tc := range []struct {
		name  string
		link  string
		extra map[string]string
		want  []string
	}{
		{
			name:  "written through a relative link",
			link:  "->resolv.real",
			extra: map[string]string{"etc/resolv.real": "nameserver 10.0.0.1\n"},
			want:  []string{"etc/", "etc/passwd"},
		},
		{
			name:  "written through an absolute link",
			link:  "->/etc/resolvconf/resolv.conf",
			extra: map[string]string{"etc/resolvconf/resolv.conf": "nameserver 10.0.0.1\n"},
			// The agent's rename moved the directory's mtime: its header
			// is in the layer, the file is not.
			want: []string{"etc/", "etc/passwd", "etc/resolvconf/"},
		},
		{
			name:  "a link to a directory hides nothing",
			link:  "->/etc",
			extra: map[string]string{"etc/resolv.real": "changed\n"},
			want:  []string{"etc/", "etc/passwd", "etc/resolv.real"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			lower, upper := filepath.Join(base, "lower"), filepath.Join(base, "upper")
			image := map[string]string{
				".banger/version": "v1", "etc/hostname": "image\n", "etc/passwd": "root\n", "etc/resolv.conf": tc.link,
				"etc/resolv.real": "old\n", "etc/resolvconf/resolv.conf": "old\n",
			}
			writeTree(t, lower, image)
			if out, err := exec.CommandContext(t.Context(), "cp", "-a", lower, upper).CombinedOutput(); err != nil {
				t.Fatalf("cp -a: %v: %s", err, out)
			}
			writeTree(t, upper, map[string]string{".banger/version": "v2", "etc/hostname": "vm\n", "etc/passwd": "root\nme\n"})
			writeTree(t, upper, tc.extra)
			var names []string
			for _, m := range members(t, diffTrees(t, lower, upper)) {
				names = append(names, m.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("layer %v, want %v", names, tc.want)
			}
		})
	}
}

// Names a shell or ustar would trip on round-trip: a newline, UTF-8,
// 255 bytes, a path longer than ustar's 100; a name that would read as a
// whiteout is refused, naming it.
func TestDiffTreesNames(t *testing.T) {
	base := t.TempDir()
	lower, upper := filepath.Join(base, "lower"), filepath.Join(base, "upper")
	writeTree(t, lower, map[string]string{"keep": "k"})
	if out, err := exec.CommandContext(t.Context(), "cp", "-a", lower, upper).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	long := strings.Repeat("n", 255)
	deep := filepath.Join(strings.Repeat("d", 60), strings.Repeat("e", 60), strings.Repeat("f", 60))
	writeTree(t, upper, map[string]string{"a\nb": "newline", "grüße": "utf8", long: "long", deep + "/leaf": "deep", "link\nname": "->a\nb"})
	sameModel(t, tarModel(t, flatten(t, diffTrees(t, t.TempDir(), lower), diffTrees(t, lower, upper))), dirModel(t, upper))

	writeTree(t, upper, map[string]string{"dir/.wh.sneaky": "x"})
	var b strings.Builder
	_, err := layerdiff.DiffTrees(t.Context(), lower, upper, &b, layerdiff.Options{})
	if err == nil || !strings.Contains(err.Error(), "/dir/.wh.sneaky") {
		t.Errorf("a .wh. name: %v", err)
	}
}
