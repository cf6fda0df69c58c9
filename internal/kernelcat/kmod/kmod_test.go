package kmod

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/pkg/errdefs"
)

func fakeModule(modinfo ...string) []byte { return kctest.Module(modinfo...) }

func writeTree(t *testing.T, mods map[string][]string, codec compress.Codec) string {
	t.Helper()
	root := t.TempDir()
	for rel, info := range mods {
		data := fakeModule(info...)
		if codec != compress.None {
			var b bytes.Buffer
			w, err := compress.NewWriter(codec, &b)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = w.Write(data)
			_ = w.Close()
			data = b.Bytes()
		}
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// debianLike mirrors the dependencies measured in Debian's 6.1 cloud kernel.
func debianLike(ext string) map[string][]string {
	return map[string][]string{
		"kernel/drivers/block/virtio_blk.ko" + ext:          {"name=virtio_blk", "depends=virtio,virtio_ring", "vermagic=6.1.0-test SMP"},
		"kernel/drivers/virtio/virtio_ring.ko" + ext:        {"name=virtio_ring", "depends="},
		"kernel/drivers/virtio/virtio.ko" + ext:             {"name=virtio", "depends=virtio_ring"},
		"kernel/drivers/net/virtio_net.ko" + ext:            {"depends=virtio_ring,virtio,net_failover"},
		"kernel/drivers/net/net_failover.ko" + ext:          {"depends=failover"},
		"kernel/net/core/failover.ko" + ext:                 {"depends="},
		"kernel/drivers/char/hw_random/virtio-rng.ko" + ext: {"depends=virtio,virtio_ring", "alias=virtio:d00000004v*"},
	}
}

func names(ms []*Module) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, ",")
}

func TestClosureFromModinfo(t *testing.T) {
	for _, tc := range []struct {
		ext   string
		codec compress.Codec
	}{{"", compress.None}, {".xz", compress.XZ}, {".zst", compress.Zstd}, {".gz", compress.Gzip}} {
		t.Run("ko"+tc.ext, func(t *testing.T) {
			tree, err := Open(writeTree(t, debianLike(tc.ext), tc.codec))
			if err != nil {
				t.Fatal(err)
			}
			if tree.HasModulesDep() || tree.Len() != 7 {
				t.Fatalf("HasModulesDep=%v Len=%d", tree.HasModulesDep(), tree.Len())
			}
			order, err := tree.Closure([]string{"virtio_blk", "virtio_net", "virtio-rng"})
			if err != nil {
				t.Fatal(err)
			}
			want := "virtio_ring,virtio,virtio_blk,failover,net_failover,virtio_net,virtio_rng"
			if got := names(order); got != want {
				t.Fatalf("closure = %s, want %s", got, want)
			}
			rng, _ := tree.Lookup("virtio_rng")
			if rng.Plain() != "kernel/drivers/char/hw_random/virtio-rng.ko" {
				t.Errorf("Plain() = %s", rng.Plain())
			}
			mi, err := tree.Modinfo(rng)
			if err != nil || mi.Get("alias") != "virtio:d00000004v*" {
				t.Errorf("modinfo = %v, %v", mi, err)
			}
			data, err := tree.ReadFile(rng)
			if err != nil || !bytes.HasPrefix(data, []byte("\x7fELF")) {
				t.Errorf("ReadFile did not decompress: %v", err)
			}
		})
	}
}

func TestModulesDepWins(t *testing.T) {
	mods := debianLike("")
	mods["kernel/drivers/block/virtio_blk.ko"] = []string{"depends=bogus_module_that_does_not_exist"}
	root := writeTree(t, mods, compress.None)
	dep := "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n" +
		"kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n" +
		"kernel/drivers/virtio/virtio_ring.ko:\n"
	if err := os.WriteFile(filepath.Join(root, "modules.dep"), []byte(dep), 0o644); err != nil {
		t.Fatal(err)
	}
	tree, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	order, err := tree.Closure([]string{"virtio_blk"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(order); got != "virtio_ring,virtio,virtio_blk" {
		t.Fatalf("closure = %s", got)
	}
}

func TestClosureSoftPre(t *testing.T) {
	tree, err := Open(writeTree(t, map[string][]string{
		"kernel/fs/ext4/ext4.ko":    {"depends=jbd2", "softdep=pre: crc32c post: not_there"},
		"kernel/fs/jbd2/jbd2.ko":    {"depends="},
		"kernel/crypto/crc32c.ko":   {"depends="},
		"kernel/lib/libcrc32c.ko":   {"depends=", "softdep=pre: absent_module"},
		"kernel/drivers/other/x.ko": {"depends=libcrc32c"},
	}, compress.None))
	if err != nil {
		t.Fatal(err)
	}
	order, err := tree.Closure([]string{"ext4", "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(order); got != "jbd2,crc32c,ext4,libcrc32c,x" {
		t.Fatalf("closure = %s", got)
	}
}

func TestClosureErrors(t *testing.T) {
	tree, err := Open(writeTree(t, map[string][]string{
		"kernel/a.ko": {"depends=b"},
		"kernel/b.ko": {"depends=a"},
		"kernel/c.ko": {"depends=missing_one"},
		"kernel/d.ko": {"not modinfo at all"},
	}, compress.None))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Closure([]string{"a"}); err == nil || !strings.Contains(err.Error(), "cycle: a -> b -> a") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := tree.Closure([]string{"c"}); !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "c -> missing_one") {
		t.Errorf("missing dependency: %v", err)
	}
	order, err := tree.Closure([]string{"d"})
	if err != nil || names(order) != "d" {
		t.Errorf("module without depends: %s, %v", names(order), err)
	}
}

func TestReadModinfoRejectsNonModules(t *testing.T) {
	if _, err := ReadModinfo(bytes.NewReader([]byte("not elf"))); err == nil {
		t.Error("non-ELF accepted")
	}
	tinyELF := fakeModule()[:64]
	if _, err := ReadModinfo(bytes.NewReader(tinyELF)); err == nil {
		t.Error("ELF without sections accepted")
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("depends=a,b\x00alias=x\x00=bad\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range ParseModinfo(data).Depends() {
			if d == "" || strings.Contains(d, "-") || strings.Contains(d, ",") {
				t.Fatalf("bad dependency name %q", d)
			}
		}
	})
}
