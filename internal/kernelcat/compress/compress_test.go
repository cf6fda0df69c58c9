package compress

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/bangerdev/banger/internal/testutil"
)

// corpus is compressible data with x86-looking call instructions in it.
func corpus(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("/proc/self/exe") // the test binary: real x86 code
	if err != nil {
		t.Fatal(err)
	}
	return b[:min(len(b), 1<<20)]
}

func TestRoundTrip(t *testing.T) {
	data := corpus(t)
	for _, c := range []Codec{None, Gzip, Zstd, LZ4, XZ} {
		t.Run(string(c), func(t *testing.T) {
			var b bytes.Buffer
			w, err := NewWriter(c, &b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if c != None {
				if got := Detect(b.Bytes()); got != c {
					t.Fatalf("Detect = %s, want %s", got, c)
				}
			}
			r, err := NewReader(c, &b)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("round trip changed the data (%d bytes in, %d out)", len(data), len(got))
			}
		})
	}
}

// TestDecodesReferenceTools decodes what the reference command-line tools
// write, with the options the kernel build uses (scripts/Makefile.lib,
// scripts/xz_wrap.sh).
func TestDecodesReferenceTools(t *testing.T) {
	data := corpus(t)
	for _, tc := range []struct {
		codec Codec
		argv  []string
		pkg   string
	}{
		{Gzip, []string{"gzip", "-n", "-9"}, "gzip"},
		{XZ, []string{"xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB"}, "xz-utils"},
		{XZ, []string{"xz", "--check=crc64"}, "xz-utils"},
		{XZ, []string{"xz", "--check=sha256", "--x86", "--lzma2=preset=1", "--block-size=1MiB"}, "xz-utils"},
		{XZ, []string{"xz", "--check=none", "--x86", "--lzma2=preset=6"}, "xz-utils"},
		{Zstd, []string{"zstd", "-19", "-q", "-c"}, "zstd"},
		{LZ4, []string{"lz4", "-l", "-9", "-q", "-c"}, "lz4"},
		{Bzip2, []string{"bzip2", "-9"}, "bzip2"},
		{LZMA, []string{"lzma", "-9"}, "xz-utils"},
	} {
		t.Run(tc.codec.String()+" "+tc.argv[1], func(t *testing.T) {
			bin := testutil.RequireBinary(t, tc.argv[0], tc.pkg)
			cmd := exec.CommandContext(context.Background(), bin, tc.argv[1:]...)
			cmd.Stdin = bytes.NewReader(data)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := Detect(out); got != tc.codec {
				t.Fatalf("Detect = %s, want %s", got, tc.codec)
			}
			r, err := NewReader(tc.codec, bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("decoded %d bytes differ from the %d encoded", len(got), len(data))
			}
		})
	}
}

// TestXZBCJDetectsCorruption flips a byte inside a BCJ stream's data.
func TestXZBCJDetectsCorruption(t *testing.T) {
	bin := testutil.RequireBinary(t, "xz", "xz-utils")
	data := make([]byte, 64<<10)
	_, _ = rand.Read(data[:1024])
	cmd := exec.CommandContext(context.Background(), bin, "--check=crc32", "--x86", "--lzma2=preset=0")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	out[len(out)/2] ^= 0x55
	r, err := NewReader(XZ, bytes.NewReader(out))
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if err == nil {
		t.Fatal("corrupt xz stream decoded without error")
	}
}

func TestDetectAndExtension(t *testing.T) {
	for _, tc := range []struct {
		head []byte
		want Codec
	}{
		{[]byte{0x1f, 0x8b, 8}, Gzip},
		{[]byte("\xfd7zXZ\x00\x00"), XZ},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd, 0}, Zstd},
		{[]byte{0x02, 0x21, 0x4c, 0x18}, LZ4},
		{[]byte("BZh9"), Bzip2},
		{[]byte{0x5d, 0, 0, 0x80}, LZMA},
		{[]byte("\x7fELF"), None},
		{nil, None},
	} {
		if got := Detect(tc.head); got != tc.want {
			t.Errorf("Detect(%x) = %s, want %s", tc.head, got, tc.want)
		}
	}
	for ext, want := range map[string]Codec{".xz": XZ, ".zst": Zstd, ".gz": Gzip, ".ko": None, ".bz2": Bzip2} {
		if got := ByExtension(ext); got != want {
			t.Errorf("ByExtension(%s) = %s", ext, got)
		}
	}
	if _, err := NewWriter(Bzip2, io.Discard); err == nil {
		t.Error("NewWriter(bzip2) should be unsupported")
	}
}
