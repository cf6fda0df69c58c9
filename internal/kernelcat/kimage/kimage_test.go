package kimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/kernelcat/kctest"
	"github.com/bangerdev/banger/internal/testutil"
)

func tinyELF(pvh bool) []byte { return kctest.ELF("6.1.99-test", pvh, nil) }

func fakeBzImage(payload []byte, protocol uint16) []byte {
	return kctest.BzImage(payload, protocol, "6.1.99-test")
}

// compressed compresses data as the kernel build does: the stream, then
// (except for gzip) the uncompressed size as 4 little-endian bytes.
func compressed(t *testing.T, codec compress.Codec, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var argv []string
	switch codec {
	case compress.XZ:
		argv = []string{"xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB"}
	case compress.Bzip2:
		argv = []string{"bzip2", "-9"}
	case compress.LZMA:
		argv = []string{"lzma", "-9"}
	}
	if argv != nil {
		bin := testutil.RequireBinary(t, argv[0], "xz-utils/bzip2")
		cmd := exec.CommandContext(context.Background(), bin, argv[1:]...)
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(out)
	} else {
		w, err := compress.NewWriter(codec, &b)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if codec != compress.Gzip {
		_ = binary.Write(&b, binary.LittleEndian, uint32(len(data))) //nolint:gosec // test sizes
	}
	return b.Bytes()
}

func TestExtractEveryCodec(t *testing.T) {
	elfData := tinyELF(true)
	for _, codec := range []compress.Codec{compress.Gzip, compress.XZ, compress.Zstd, compress.LZ4, compress.Bzip2, compress.LZMA} {
		for _, proto := range []uint16{0x020f, 0x0206} {
			name := string(codec)
			if proto < 0x0208 {
				name += "/scan"
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				src, dst := filepath.Join(dir, "bzImage"), filepath.Join(dir, "vmlinux")
				if err := os.WriteFile(src, fakeBzImage(compressed(t, codec, elfData), proto), 0o644); err != nil {
					t.Fatal(err)
				}
				f, _ := os.Open(src)
				fi, _ := f.Stat()
				if k := Detect(f, fi.Size()); k != KindBzImage {
					t.Fatalf("Detect = %s", k)
				}
				bz, err := ParseBzImage(f, fi.Size())
				_ = f.Close()
				if err != nil || bz.Release != "6.1.99-test" || bz.Protocol != proto {
					t.Fatalf("ParseBzImage = %+v, %v", bz, err)
				}
				got, err := Extract(src, dst)
				if err != nil {
					t.Fatal(err)
				}
				if got != codec {
					t.Errorf("codec = %s, want %s", got, codec)
				}
				out, _ := os.ReadFile(dst)
				if !bytes.Equal(out, elfData) {
					t.Fatalf("extracted %d bytes, not the %d-byte ELF", len(out), len(elfData))
				}
				v, err := InspectVmlinux(dst)
				if err != nil || v.Release != "6.1.99-test" || !v.PVH {
					t.Fatalf("InspectVmlinux = %+v, %v", v, err)
				}
			})
		}
	}
}

func TestInspectWithoutPVH(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vmlinux")
	if err := os.WriteFile(p, tinyELF(false), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := InspectVmlinux(p)
	if err != nil || v.PVH || v.Release != "6.1.99-test" {
		t.Fatalf("InspectVmlinux = %+v, %v", v, err)
	}
	if err := CheckELF(p); err != nil {
		t.Fatal(err)
	}
}

func TestExtractRefusesBadImages(t *testing.T) {
	notELF := compressed(t, compress.Gzip, bytes.Repeat([]byte("not a kernel "), 100))
	good := fakeBzImage(compressed(t, compress.Zstd, tinyELF(false)), 0x020f)
	truncated := good[:len(good)-400]
	lying := bytes.Clone(good)
	binary.LittleEndian.PutUint32(lying[offPayloadLength:], 1<<30)
	unknown := fakeBzImage(append([]byte("PK\x03\x04"), make([]byte, 100)...), 0x020f)
	bomb := fakeBzImage(append(compressed(t, compress.Gzip, []byte("x"))[:10], 0xff, 0xff, 0xff, 0x7f), 0x020f)
	for name, data := range map[string][]byte{
		"payload not ELF":    fakeBzImage(notELF, 0x020f),
		"scan finds no ELF":  fakeBzImage(notELF, 0x0206),
		"truncated payload":  truncated,
		"length beyond file": lying,
		"unknown codec":      unknown,
		"size lie":           bomb,
		"not a bzImage":      []byte("hello"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "bz"), filepath.Join(dir, "vmlinux")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Extract(src, dst); err == nil {
				t.Fatal("extracted")
			}
			if _, err := os.Stat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("failed extraction left %s behind: %v", dst, err)
			}
		})
	}
}

func TestFindReleaseAcrossChunks(t *testing.T) {
	data := append(bytes.Repeat([]byte{0}, 1<<20-5), "Linux version 5.10.1-x (y)"...)
	if got := findRelease(bytes.NewReader(data)); got != "5.10.1-x" {
		t.Fatalf("findRelease = %q", got)
	}
	if got := findRelease(io.LimitReader(bytes.NewReader(data), 1<<20)); got != "" {
		t.Fatalf("findRelease on a cut banner = %q", got)
	}
}

// FuzzExtract: a hostile bzImage is refused or extracted, never a panic,
// and a failed extraction leaves nothing.
func FuzzExtract(f *testing.F) {
	f.Add(fakeBzImage([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0x020f))
	f.Add(fakeBzImage([]byte("\x28\xb5\x2f\xfd junk"), 0x0206))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "bz"), filepath.Join(dir, "vmlinux")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Extract(src, dst); err != nil {
			if _, serr := os.Stat(dst); serr == nil {
				t.Fatal("failed extraction left its output")
			}
		}
	})
}
