package buildctx

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// The setuid, setgid and sticky bits of a context's files survive the
// upload (Pack, Receive) and reach the layer WriteLayer writes.
func TestSpecialModeBits(t *testing.T) {
	for _, tc := range []struct {
		perm    fs.FileMode // as os.Chmod takes it
		entry   fs.FileMode // the received Entry's Mode
		tarMode int64       // the layer header's Mode
	}{
		{0o755, 0o755, 0o755},
		{0o755 | fs.ModeSetuid, 0o755 | fs.ModeSetuid, 0o4755},
		{0o750 | fs.ModeSetgid, 0o750 | fs.ModeSetgid, 0o2750},
		{0o777 | fs.ModeSticky, 0o777 | fs.ModeSticky, 0o1777},
		{0o700 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, 0o700 | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky, 0o7700},
	} {
		t.Run(tc.perm.String(), func(t *testing.T) {
			dir := writeContext(t, map[string]string{"f": "x"})
			if err := os.Chmod(filepath.Join(dir, "f"), tc.perm); err != nil {
				t.Fatal(err)
			}
			up, _ := roundTrip(t, dir)
			e, ok := up.Context.entries["f"]
			if !ok || e.Mode != tc.entry {
				t.Fatalf("received f: %v %v, want mode %v", e, ok, tc.entry)
			}
			ms, err := up.Context.Select("f")
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := WriteLayer(&buf, ms, CopySpec{Dest: "/f"}); err != nil {
				t.Fatal(err)
			}
			h, err := tar.NewReader(&buf).Next()
			if err != nil {
				t.Fatal(err)
			}
			if h.Mode != tc.tarMode {
				t.Errorf("layer mode %#o, want %#o", h.Mode, tc.tarMode)
			}
		})
	}
}
