package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/kernelcat/compress"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/pkg/errdefs"
)

type ent struct {
	name, link, data string
	typ              byte
	mode             int64
}

func mkTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.data))}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			_, _ = io.WriteString(tw, e.data)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// sandbox returns dest and a sibling directory that must stay empty.
func sandbox(t testing.TB) (dest, outside string) {
	t.Helper()
	base := t.TempDir()
	dest, outside = filepath.Join(base, "dest"), filepath.Join(base, "outside")
	for _, d := range []string{dest, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dest, outside
}

func assertEmpty(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 0 {
		t.Fatalf("%s was written to: %v %v", dir, entries, err)
	}
}

func TestExtractKernelTree(t *testing.T) {
	dest, _ := sandbox(t)
	res, err := ExtractTar(bytes.NewReader(mkTar(t,
		ent{name: "./", typ: tar.TypeDir},
		ent{name: "./boot/vmlinuz-6.1.0", data: "kernel"},
		ent{name: "./lib/modules/6.1.0/kernel/virtio.ko", data: "module"},
		ent{name: "./lib/modules/6.1.0/build", typ: tar.TypeSymlink, link: "/usr/src/linux-headers-6.1.0"},
		ent{name: "./lib/modules/6.1.0/source", typ: tar.TypeSymlink, link: "../../../usr/src/x"},
		ent{name: "./boot/vmlinuz", typ: tar.TypeSymlink, link: "vmlinuz-6.1.0"},
		ent{name: "./boot/hard", typ: tar.TypeLink, link: "./boot/vmlinuz-6.1.0"},
		ent{name: "./sbin/tool", data: "#!/bin/sh\n", mode: 0o4755},
		ent{name: "./dev/null", typ: tar.TypeChar},
	)), dest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 3 || res.Links != 4 || res.Skipped != 1 || res.Bytes != int64(len("kernel")+len("module")+len("#!/bin/sh\n")) {
		t.Errorf("result = %+v", res)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "boot/hard")); string(b) != "kernel" {
		t.Errorf("hard link content %q", b)
	}
	fi, err := os.Stat(filepath.Join(dest, "sbin/tool"))
	if err != nil || fi.Mode().Perm() != 0o755 || fi.Mode()&os.ModeSetuid != 0 {
		t.Errorf("sbin/tool mode %v (setuid must be dropped), %v", fi.Mode(), err)
	}
}

func TestExtractIncludeFilter(t *testing.T) {
	dest, _ := sandbox(t)
	res, err := ExtractTar(bytes.NewReader(mkTar(t,
		ent{name: "boot/config-6.1", data: "CONFIG_X=y"},
		ent{name: "usr/share/doc/x", data: "doc"},
	)), dest, Options{Include: func(n string) bool { return strings.HasPrefix(n, "boot/") }})
	if err != nil || res.Files != 1 || res.Skipped != 1 {
		t.Fatalf("res = %+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dest, "usr")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("excluded entry was extracted")
	}
}

func TestExtractRefusesHostileTarballs(t *testing.T) {
	dest0, outside0 := sandbox(t)
	_ = dest0
	for _, tc := range []struct {
		name string
		ents func(outside string) []ent
	}{
		{"dotdot name", func(string) []ent { return []ent{{name: "../evil", data: "x"}} }},
		{"dotdot inside", func(string) []ent { return []ent{{name: "a/../../evil", data: "x"}} }},
		{"absolute name", func(o string) []ent { return []ent{{name: o + "/evil", data: "x"}} }},
		{"symlink escapes", func(string) []ent { return []ent{{name: "lib/x", typ: tar.TypeSymlink, link: "../../outside"}} }},
		{"absolute symlink dotdot", func(string) []ent { return []ent{{name: "x", typ: tar.TypeSymlink, link: "/../outside"}} }},
		{"write through absolute symlink", func(o string) []ent {
			return []ent{{name: "d", typ: tar.TypeSymlink, link: o}, {name: "d/evil", data: "x"}}
		}},
		{"write through relative symlink dir", func(string) []ent {
			return []ent{{name: "a/b", typ: tar.TypeDir}, {name: "a/b/up", typ: tar.TypeSymlink, link: "../.."}, {name: "a/b/up/up2", typ: tar.TypeSymlink, link: "../outside"}, {name: "a/b/up/up2/evil", data: "x"}}
		}},
		{"hard link escapes", func(string) []ent { return []ent{{name: "h", typ: tar.TypeLink, link: "../outside/x"}} }},
		{"hard link absolute", func(string) []ent { return []ent{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}} }},
		{"hard link to missing", func(string) []ent { return []ent{{name: "h", typ: tar.TypeLink, link: "nope"}} }},
		{"file over dir", func(string) []ent { return []ent{{name: "d", typ: tar.TypeDir}, {name: "d", data: "x"}} }},
		{"bomb", func(string) []ent { return []ent{{name: "big", data: strings.Repeat("x", 2048)}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest, outside := sandbox(t)
			_, err := ExtractTar(bytes.NewReader(mkTar(t, tc.ents(outside)...)), dest, Options{MaxBytes: 1024})
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			assertEmpty(t, outside)
		})
	}
	assertEmpty(t, outside0)
}

// TestSymlinkReplacedNotFollowed: a file entry after a symlink of the same
// name replaces the link instead of writing through it.
func TestSymlinkReplacedNotFollowed(t *testing.T) {
	dest, _ := sandbox(t)
	_, err := ExtractTar(bytes.NewReader(mkTar(t,
		ent{name: "target", data: "original"},
		ent{name: "link", typ: tar.TypeSymlink, link: "target"},
		ent{name: "link", data: "replaced"},
	)), dest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "target")); string(b) != "original" {
		t.Fatalf("wrote through the symlink: target = %q", b)
	}
}

// arMember appends one ar member.
func arMember(b *bytes.Buffer, name string, data []byte) {
	fmt.Fprintf(b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", name, 0, 0, 0, "100644", len(data))
	b.Write(data)
	if len(data)%2 == 1 {
		b.WriteByte('\n')
	}
}

func mkDeb(t testing.TB, member string, codec compress.Codec, tarData []byte) []byte {
	t.Helper()
	var data bytes.Buffer
	w, err := compress.NewWriter(codec, &data)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write(tarData)
	_ = w.Close()
	var b bytes.Buffer
	b.WriteString(arMagic)
	arMember(&b, "debian-binary", []byte("2.0\n"))
	arMember(&b, "control.tar.gz", []byte("odd"))
	arMember(&b, member, data.Bytes())
	return b.Bytes()
}

func TestDebData(t *testing.T) {
	tarData := mkTar(t, ent{name: "./boot/vmlinuz-6.1", data: "kernel"})
	for _, tc := range []struct {
		member string
		codec  compress.Codec
	}{{"data.tar.xz", compress.XZ}, {"data.tar.zst", compress.Zstd}, {"data.tar.gz", compress.Gzip}, {"data.tar", compress.None}, {"data.tar.xz/", compress.XZ}} {
		t.Run(tc.member, func(t *testing.T) {
			deb := mkDeb(t, tc.member, tc.codec, tarData)
			if !IsDeb(deb) {
				t.Fatal("IsDeb = false")
			}
			rc, err := DebData(bytes.NewReader(deb))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, tarData) {
				t.Fatalf("data.tar differs (%v)", err)
			}
		})
	}
}

func TestDebDataRefusesHostileDebs(t *testing.T) {
	tarData := mkTar(t, ent{name: "x", data: "y"})
	good := mkDeb(t, "data.tar.xz", compress.XZ, tarData)
	var noData bytes.Buffer
	noData.WriteString(arMagic)
	arMember(&noData, "debian-binary", []byte("2.0\n"))
	badSize := bytes.Replace(bytes.Clone(good), []byte("4         `"), []byte("-4        `"), 1)
	for name, deb := range map[string][]byte{
		"not ar":              []byte("PK\x03\x04 zip"),
		"no data member":      noData.Bytes(),
		"codec lies":          mkDeb(t, "data.tar.xz", compress.Gzip, tarData),
		"unknown compression": mkDeb(t, "data.tar.lzo", compress.None, tarData),
		"truncated":           good[:70],
		"negative size":       badSize,
	} {
		t.Run(name, func(t *testing.T) {
			rc, err := DebData(bytes.NewReader(deb))
			if err == nil {
				_, err = io.ReadAll(rc)
			}
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	// A well-formed deb carrying a hostile tarball: the tar rules apply.
	dest, outside := sandbox(t)
	rc, err := DebData(bytes.NewReader(mkDeb(t, "data.tar.xz", compress.XZ, mkTar(t, ent{name: "../../outside/x", data: "y"}))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ExtractTar(rc, dest, Options{}); !errors.Is(err, errdefs.ErrInvalid) {
		t.Fatalf("hostile deb extracted: %v", err)
	}
	assertEmpty(t, outside)
}

// TestDebDataReadsDpkgDeb reads a package built by dpkg-deb itself.
func TestDebDataReadsDpkgDeb(t *testing.T) {
	bin := testutil.RequireBinary(t, "dpkg-deb", "dpkg")
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	for p, content := range map[string]string{
		"DEBIAN/control":                  "Package: test-kernel\nVersion: 1\nArchitecture: amd64\nMaintainer: t <t@t>\nDescription: t\n",
		"boot/vmlinuz-6.1.0-x":            "kernel",
		"lib/modules/6.1.0-x/kernel/a.ko": "module",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(pkg, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, p), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	built := 0
	for _, z := range []string{"xz", "zstd", "gzip"} {
		deb := filepath.Join(dir, z+".deb")
		out, err := exec.CommandContext(context.Background(), bin, "--root-owner-group", "-Z"+z, "--build", pkg, deb).CombinedOutput()
		if err != nil {
			t.Logf("dpkg-deb -Z%s: %v %s", z, err, out)
			continue
		}
		f, _ := os.Open(deb)
		rc, err := DebData(f)
		if err != nil {
			t.Fatalf("%s: %v", z, err)
		}
		dest := t.TempDir()
		if _, err := ExtractTar(rc, dest, Options{}); err != nil {
			t.Fatalf("%s: %v", z, err)
		}
		_ = f.Close()
		if b, _ := os.ReadFile(filepath.Join(dest, "lib/modules/6.1.0-x/kernel/a.ko")); string(b) != "module" {
			t.Fatalf("%s: module content %q", z, b)
		}
		built++
	}
	if built == 0 {
		t.Fatal("dpkg-deb built no package")
	}
}

// FuzzExtractTar: whatever the archive, nothing lands outside dest.
func FuzzExtractTar(f *testing.F) {
	f.Add(mkTar(f, ent{name: "a/b", data: "c"}, ent{name: "l", typ: tar.TypeSymlink, link: "a"}))
	f.Add(mkTar(f, ent{name: "l", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "l/x", data: "c"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		dest, outside := sandbox(t)
		_, _ = ExtractTar(bytes.NewReader(data), dest, Options{MaxBytes: 1 << 20})
		assertEmpty(t, outside)
	})
}

// FuzzDebData: any .deb is read or refused without panicking, and what
// it yields is bounded by what went in.
func FuzzDebData(f *testing.F) {
	f.Add(mkDeb(f, "data.tar.gz", compress.Gzip, mkTar(f, ent{name: "boot/x", data: "y"})))
	f.Add([]byte("!<arch>\ndata.tar        0           0     0     100644  5         `\nhello\n"))
	f.Fuzz(func(_ *testing.T, data []byte) {
		rc, err := DebData(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<20))
		_ = rc.Close()
	})
}
