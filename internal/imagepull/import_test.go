package imagepull_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
	"github.com/bangerdev/banger/pkg/progress"
)

func rootfsTar(t *testing.T) []byte {
	t.Helper()
	return rt.MustTar(
		rt.Dir("./"), rt.Dir("./etc"), rt.File("./etc/hostname", "box\n"),
		rt.File("./usr/bin/su", "SU").WithMode(0o4755),
		rt.File("./usr/bin/ping", "PING").WithMode(0o755).WithXattr("security.capability", capability),
		rt.File("./home/u/f", "mine").WithOwner(1000, 1000).WithMode(0o640),
		rt.Symlink("./bin", "usr/bin"), rt.Hardlink("./usr/bin/su2", "./usr/bin/su"),
	)
}

func TestImportFormats(t *testing.T) {
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	plain := rootfsTar(t)
	blobs := map[string][]byte{"xz": xzOf(t, plain), "bzip2": bzip2Of(t, plain)}
	for _, c := range []rt.Compression{rt.Uncompressed, rt.Gzip, rt.Zstd} {
		blob, err := rt.Compress(plain, c)
		if err != nil {
			t.Fatal(err)
		}
		blobs[fmt.Sprint("registrytest compression ", c)] = blob
	}
	for c, blob := range blobs {
		out := filepath.Join(t.TempDir(), "rootfs.ext4")
		img, err := imagepull.Import(t.Context(), bytes.NewReader(blob), int64(len(blob)), out, options(t, t.TempDir()))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		sum := sha256.Sum256(blob)
		if img.Digest != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Errorf("digest %s is not the tarball's sha256", img.Digest)
		}
		im := ext4test.Open(t, out)
		im.Fsck()
		tree := im.Tree()
		su, f := tree["usr/bin/su"], tree["home/u/f"]
		if su.Perm() != 0o4755 || tree["usr/bin/su2"].Ino != su.Ino || f.UID != 1000 || f.Perm() != 0o640 || im.Readlink(tree["bin"].Ino) != "usr/bin" {
			t.Errorf("%s: su %+v su2 %+v f %+v", c, su, tree["usr/bin/su2"], f)
		}
	}
}

func TestImportRefusesWhatItCannotRead(t *testing.T) {
	gz, err := rt.Compress(rootfsTar(t), rt.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	plain := rootfsTar(t)
	tests := []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"empty", nil, errdefs.ErrInvalid, "rootfs.tar is empty"},
		{"short junk", []byte("hello, I am not a tarball"), errdefs.ErrInvalid, "rootfs.tar is not a tar archive"},
		{"long junk", []byte("hello, I am a text file, not a tarball at all, sorry" + strings.Repeat(".", 600)), errdefs.ErrInvalid, "rootfs.tar is not a tar archive"},
		{"truncated gzip", gz[:len(gz)/2], errdefs.ErrInvalid, "rootfs.tar: gzip decompression failed: unexpected EOF (the file is truncated)"},
		{"corrupt gzip header", []byte("\x1f\x8bnot gzip at all"), errdefs.ErrInvalid, "rootfs.tar: gzip decompression failed"},
		{"truncated xz", []byte("\xfd7zXZ\x00rest"), errdefs.ErrInvalid, "rootfs.tar: xz decompression failed"},
		{"truncated bzip2", bzip2Of(t, plain)[:40], errdefs.ErrInvalid, "rootfs.tar: bzip2 decompression failed"},
		{"tar cut in a header", plain[:700], errdefs.ErrInvalid, "rootfs.tar: the tar archive ends in the middle of a header"},
		{"tar cut in a file", plain[:1536], errdefs.ErrInvalid, `rootfs.tar: the tar archive ends in the middle of "./etc/hostname" (truncated?)`},
		{"traversal", rt.MustTar(rt.File("../../etc/cron.d/x", "pwn")), imagepull.ErrUnsafePath, `"../../etc/cron.d/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "rootfs.ext4")
			opts := options(t, t.TempDir())
			opts.Source = "rootfs.tar"
			var events []progress.Event
			opts.Progress = func(e progress.Event) { events = append(events, e) }
			_, err := imagepull.Import(t.Context(), bytes.NewReader(tt.data), 0, out, opts)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.is, tt.want)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Fatalf("image file after a failed import: %v", serr)
			}
			for _, e := range events {
				if e.Message == "extracted" {
					t.Errorf("a failed import reported %+v", e)
				}
			}
		})
	}
}

func xzOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := compress.NewWriter(compress.XZ, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bzip2Of compresses with bzip2(1): Go has a bzip2 decoder, no encoder.
func bzip2Of(t *testing.T, data []byte) []byte {
	t.Helper()
	testutil.RequireBinary(t, "bzip2", "bzip2")
	cmd := exec.CommandContext(t.Context(), "bzip2", "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestImageMountsAndMatches loop-mounts an imported image (root only) and
// compares what the kernel sees with the tarball.
func TestImageMountsAndMatches(t *testing.T) {
	testutil.RequireRoot(t)
	out := filepath.Join(t.TempDir(), "rootfs.ext4")
	if _, err := imagepull.Import(t.Context(), bytes.NewReader(rootfsTar(t)), 0, out, options(t, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if b, err := exec.CommandContext(t.Context(), "mount", "-o", "loop,ro", out, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v: %s", err, b)
	}
	t.Cleanup(func() {
		if b, err := exec.CommandContext(context.Background(), "umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, b)
		}
	})
	check := func(p string, mode os.FileMode, uid, gid uint32, content string) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(mnt, p))
		if err != nil {
			t.Error(err)
			return
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != uid || st.Gid != gid {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", p, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
		}
		if content != "" {
			if b, _ := os.ReadFile(filepath.Join(mnt, p)); string(b) != content {
				t.Errorf("%s holds %q", p, b)
			}
		}
	}
	check("usr/bin/su", 0o755|os.ModeSetuid, 0, 0, "SU")
	check("home/u/f", 0o640, 1000, 1000, "mine")
	check(".banger/version", 0o644, 0, 0, "")
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(filepath.Join(mnt, "usr/bin/ping"), "security.capability", buf)
	if err != nil || string(buf[:n]) != capability {
		t.Errorf("security.capability through the kernel = %x, %v", buf[:n], err)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(mnt, &sfs); err != nil || sfs.Ffree < 8000 {
		t.Errorf("free inodes seen by the kernel = %d, %v", sfs.Ffree, err)
	}
}
