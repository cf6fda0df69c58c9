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
	return b[:min(len(b), 512<<10)]
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
			for _, bin := range xzModes(t, tc.codec) {
				xzBinary = bin
				r, err := NewReader(tc.codec, bytes.NewReader(append(out, 1, 2, 3, 4))) // + size_append
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(io.LimitReader(r, int64(len(data))))
				if err != nil {
					t.Fatalf("xz binary %q: %v", bin, err)
				}
				_ = r.Close()
				if !bytes.Equal(got, data) {
					t.Fatalf("xz binary %q: decoded %d bytes differ from the %d encoded", bin, len(got), len(data))
				}
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
	for _, bin := range xzModes(t, XZ) {
		xzBinary = bin
		r, err := NewReader(XZ, bytes.NewReader(out))
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if err == nil {
			t.Fatalf("xz binary %q: corrupt xz stream decoded without error", bin)
		}
	}
}

// xzModes lists the xz decoders to try: xz(1) when installed, then the
// pure-Go one (""); xzBinary is restored when the test ends.
func xzModes(t *testing.T, c Codec) []string {
	saved := xzBinary
	t.Cleanup(func() { xzBinary = saved })
	if c != XZ || saved == "" {
		return []string{saved}
	}
	return []string{saved, ""}
}
