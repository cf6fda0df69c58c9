package imagepull_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

// smallImage is a two-layer image whose top layer's content is checked.
func smallImage(t *testing.T) (v1.Image, []*rt.Layer) {
	t.Helper()
	l0 := rt.MustLayer(rt.File("etc/os-release", "ID=test\n"), rt.File("bin/sh", "SH").WithMode(0o755))
	l1 := rt.MustLayer(rt.File("etc/motd", "hello\n"))
	img, err := rt.NewImage([]v1.Layer{l0, l1})
	if err != nil {
		t.Fatal(err)
	}
	return img, []*rt.Layer{l0, l1}
}

func digestOf(t *testing.T, l *rt.Layer) string {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// checkMotd asserts the image at out holds the top layer's file.
func checkMotd(t *testing.T, out string) {
	t.Helper()
	im := ext4test.Open(t, out)
	tree := im.Tree()
	if got := string(im.Cat(tree["etc/motd"].Ino)); got != "hello\n" {
		t.Fatalf("etc/motd = %q", got)
	}
	im.Fsck()
}

func TestCorruptCachedBlobsHeal(t *testing.T) {
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	tests := []struct {
		name    string
		corrupt func(path string) error
	}{
		{"zero-byte", func(p string) error { return os.Truncate(p, 0) }},
		{"truncated", func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/2)
		}},
		{"bit-flipped", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x10
			return os.WriteFile(p, b, 0o644)
		}},
		{"bit-flipped in the gzip trailer", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)-1] ^= 0x01 // ISIZE: gzip notices only at the very end
			return os.WriteFile(p, b, 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := rt.Start(t)
			img, layers := smallImage(t)
			ref, _ := reg.Push(t, "heal/me:1", img)
			opts := options(t, t.TempDir())
			if _, _, err := pull(t, ref, opts); err != nil {
				t.Fatal(err)
			}
			d := digestOf(t, layers[1])
			path, _ := opts.Cache.Path(d)
			if err := tt.corrupt(path); err != nil {
				t.Fatal(err)
			}
			_, out, err := pull(t, ref, opts)
			if err != nil {
				t.Fatalf("pull over a %s cached blob: %v", tt.name, err)
			}
			checkMotd(t, out)
			if n := reg.BlobGets(d); n != 2 {
				t.Errorf("the corrupt blob was fetched %d times, want 2 (once more to heal)", n)
			}
			if err := opts.Cache.Verify(d, int64(len(layers[1].Blob))); err != nil {
				t.Errorf("cache after healing: %v", err)
			}
			if n := reg.BlobGets(digestOf(t, layers[0])); n != 1 {
				t.Errorf("the intact blob was fetched %d times, want 1", n)
			}
		})
	}
}

func TestBadBlobsFromTheRegistryAreRefused(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]byte) []byte
		want   string
	}{
		{"digest mismatch", func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 1; return c }, "hashes to"},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }, "bytes"},
		{"empty", func([]byte) []byte { return nil }, "0 of"},
		{"too long", func(b []byte) []byte { return append(bytes.Clone(b), 0) }, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := rt.Start(t)
			img, layers := smallImage(t)
			ref, _ := reg.Push(t, "bad/blob:1", img)
			d := digestOf(t, layers[1])
			reg.Tamper(d, tt.tamper)
			opts := options(t, t.TempDir())
			_, out, err := pull(t, ref, opts)
			if err == nil || !strings.Contains(err.Error(), d) {
				t.Fatalf("want an error naming layer %s, got %v", d, err)
			}
			if opts.Cache.Has(d, int64(len(layers[1].Blob))) {
				t.Error("the bad blob was cached")
			}
			entries, _ := os.ReadDir(filepath.Join(opts.Cache.Dir(), "ingest"))
			if len(entries) != 0 {
				t.Errorf("ingest left %d temporary files", len(entries))
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("image file after a failed pull: %v", err)
			}
		})
	}
}

// gzipBomb is a layer whose one file decompresses to size zero bytes.
func gzipBomb(t *testing.T, size int64) *rt.Layer {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for n := int64(0); n < size; n += int64(len(chunk)) {
		if _, err := tw.Write(chunk[:min(int64(len(chunk)), size-n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	l := &rt.Layer{Blob: buf.Bytes(), Media: types.OCILayer}
	l.DiffHash, _ = l.Digest() // not the real diff id: nothing reads it
	return l
}

func TestGzipBombIsStoppedByTheLimit(t *testing.T) {
	reg := rt.Start(t)
	bomb := gzipBomb(t, 64<<20)
	img, err := rt.NewImage([]v1.Layer{bomb})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "bomb:1", img)
	opts := options(t, t.TempDir())
	opts.MaxLayerBytes = 4 << 20
	_, out, err := pull(t, ref, opts)
	if !errors.Is(err, imagepull.ErrTooLarge) || !strings.Contains(err.Error(), digestOf(t, bomb)) {
		t.Fatalf("want ErrTooLarge naming the layer, got %v", err)
	}
	if len(bomb.Blob) > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed: not much of a bomb", len(bomb.Blob))
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("image file after a failed pull: %v", err)
	}
}

func TestConcurrentPullsOfOneImage(t *testing.T) {
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	reg := rt.Start(t)
	img, layers := smallImage(t)
	ref, _ := reg.Push(t, "many/pulls:1", img)
	opts := options(t, t.TempDir())
	const n = 4
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r *imagepull.Remote
			if r, errs[i] = imagepull.Resolve(t.Context(), ref, imagepull.RegistryOptions{}); errs[i] != nil {
				return
			}
			outs[i] = filepath.Join(t.TempDir(), "rootfs.ext4")
			o := opts
			o.TmpDir = t.TempDir()
			_, errs[i] = imagepull.Pull(t.Context(), r, outs[i], o)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pull %d: %v", i, err)
		}
		checkMotd(t, outs[i])
	}
	for _, l := range layers {
		if got := reg.BlobGets(digestOf(t, l)); got != 1 {
			t.Errorf("layer fetched %d times by %d concurrent pulls, want 1", got, n)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	reg := rt.Start(t)
	img, _ := smallImage(t)
	reg.Push(t, "there:1", img)
	arm, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("x", ""))}, rt.WithPlatform("linux", "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	reg.Push(t, "arm:1", arm)
	tests := []struct {
		ref  string
		is   error
		want string
	}{
		{reg.Ref("missing:1"), errdefs.ErrNotFound, "missing"},
		{reg.Ref("arm:1"), errdefs.ErrUnsupported, "linux/arm64, not linux/amd64"},
		{"Bad Name!", errdefs.ErrInvalid, "Bad Name!"},
		{"127.0.0.1:1/nothing:here", errdefs.ErrUnavailable, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		_, err := imagepull.Resolve(t.Context(), tt.ref, imagepull.RegistryOptions{})
		if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Resolve(%q) = %v, want %v mentioning %q", tt.ref, err, tt.is, tt.want)
		}
	}
}

func TestBlobCacheRefusesHostileDigests(t *testing.T) {
	c, err := blobcache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sha256:../../etc/passwd", "sha512:" + strings.Repeat("a", 128), "sha256:" + strings.Repeat("A", 64), "sha256:abc"} {
		if _, err := c.Path(d); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Path(%q) = %v, want ErrInvalid", d, err)
		}
	}
}

func TestWriteFlattenedStreamsTheMergedTree(t *testing.T) {
	reg := rt.Start(t)
	img, err := rt.NewImage([]v1.Layer{
		rt.MustLayer(rt.File("boot/vmlinuz-6.1", "KERNEL"), rt.File("lib/modules/6.1/old.ko", "old"), rt.Hardlink("boot/vmlinuz", "boot/vmlinuz-6.1")),
		rt.MustLayer(rt.Whiteout("lib/modules/6.1/old.ko"), rt.File("lib/modules/6.1/new.ko", "new")),
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "kernels/debian:6.1", img)
	r, err := imagepull.Resolve(t.Context(), ref, imagepull.RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := imagepull.WriteFlattened(t.Context(), r, &buf, options(t, t.TempDir())); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(h.Typeflag) + ":" + string(b) + h.Linkname
	}
	want := map[string]string{"boot/vmlinuz-6.1": "0:KERNEL", "boot/vmlinuz": "1:boot/vmlinuz-6.1", "lib/modules/6.1/new.ko": "0:new"}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s = %q, want %q", p, got[p], w)
		}
	}
	if _, ok := got["lib/modules/6.1/old.ko"]; ok {
		t.Error("a whited-out file is in the stream")
	}
}
