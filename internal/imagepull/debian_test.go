package imagepull_test

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	"github.com/bangerdev/banger/internal/testutil/testimages"
)

// TestConvertDebianMinbase imports a real distribution (debootstrap's
// bookworm minbase) and checks every member's inode in the ext4 against
// its tar header: type, permissions, owner, size, hardlinks.
func TestConvertDebianMinbase(t *testing.T) {
	if testing.Short() {
		t.Skip("converts a 200 MB tree: not in -short")
	}
	tarball := testimages.DebianMinbaseTar(t)
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	out := filepath.Join(t.TempDir(), "rootfs.ext4")
	img, err := imagepull.Import(t.Context(), f, 0, out, options(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	im := ext4test.Open(t, out)
	im.Fsck()
	tree := im.Tree()

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(f)
	checked, devices := 0, 0
	linkOf := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		if p == "." || p == "" {
			continue
		}
		var typ uint32
		switch h.Typeflag {
		case tar.TypeDir:
			typ = ext4test.TypeDir
		case tar.TypeReg:
			typ = ext4test.TypeReg
		case tar.TypeSymlink:
			typ = ext4test.TypeLink
		case tar.TypeLink:
			linkOf[p] = strings.TrimPrefix(h.Linkname, "./")
			continue
		default:
			devices++
			continue
		}
		in, ok := tree[p]
		perm := uint32(h.Mode & 0o7777)
		if typ == ext4test.TypeLink {
			perm = 0o777
		}
		switch {
		case !ok:
			t.Errorf("%s missing", p)
		case in.Type() != typ || in.Perm() != perm || in.UID != uint32(h.Uid) || in.GID != uint32(h.Gid):
			t.Errorf("%s: type %o perm %o owner %d:%d, tar says %o %o %d:%d", p, in.Type(), in.Perm(), in.UID, in.GID, typ, perm, h.Uid, h.Gid)
		case typ == ext4test.TypeReg && in.Size != h.Size:
			t.Errorf("%s: %d bytes, tar says %d", p, in.Size, h.Size)
		}
		checked++
	}
	for link, target := range linkOf {
		if tree[link].Ino == 0 || tree[link].Ino != tree[target].Ino {
			t.Errorf("hardlink %s -> %s: inodes %d and %d", link, target, tree[link].Ino, tree[target].Ino)
		}
	}
	if checked < 5000 || img.Skipped != devices {
		t.Errorf("checked %d members; skipped %d device nodes, the tarball has %d", checked, img.Skipped, devices)
	}
	if got := string(im.Cat(tree["etc/debian_version"].Ino)); !strings.HasPrefix(got, "12.") {
		t.Errorf("etc/debian_version = %q", got)
	}
	t.Logf("%d members checked, %d hardlinks, %d device nodes skipped; image %d bytes, %d inodes in use", checked, len(linkOf), devices, img.SizeBytes, img.Inodes)
}
