package testimages_test

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bangerdev/banger/internal/testutil/testimages"
)

// members reads a tarball's headers (and small files' content) by clean name.
func members(t *testing.T, path string) (map[string]*tar.Header, map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	hdrs, small := map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs, small
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		hdrs[name] = h
		if h.Typeflag == tar.TypeReg && h.Size < 4096 {
			b, _ := io.ReadAll(tr)
			small[name] = string(b)
		}
	}
}

func TestBusyboxRootfsTar(t *testing.T) {
	p := testimages.BusyboxRootfsTar(t)
	if again := testimages.BusyboxRootfsTar(t); again != p {
		t.Fatalf("not cached: %s then %s", p, again)
	}
	hdrs, small := members(t, p)
	bb, sh := hdrs["bin/busybox"], hdrs["bin/sh"]
	switch {
	case bb == nil || bb.Typeflag != tar.TypeReg || bb.Mode != 0o755 || bb.Size < 100<<10:
		t.Errorf("bin/busybox = %+v", bb)
	case sh == nil || sh.Typeflag != tar.TypeSymlink || sh.Linkname != "/bin/busybox":
		t.Errorf("bin/sh = %+v", sh)
	case !strings.Contains(small["etc/passwd"], "user:x:1000:1000:") || !strings.HasPrefix(small["etc/passwd"], "root:x:0:0:"):
		t.Errorf("etc/passwd = %q", small["etc/passwd"])
	case hdrs["etc/shadow"].Mode != 0o640 || hdrs["etc/shadow"].Gid != 42:
		t.Errorf("etc/shadow = %+v", hdrs["etc/shadow"])
	case hdrs["home/user"].Uid != 1000 || hdrs["tmp"].Mode != 0o1777 || hdrs["root"].Mode != 0o700:
		t.Errorf("home/user %+v, tmp %+v, root %+v", hdrs["home/user"], hdrs["tmp"], hdrs["root"])
	}
	applets := 0
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeSymlink && h.Linkname == "/bin/busybox" {
			applets++
		}
	}
	if applets < 100 {
		t.Errorf("only %d applet links", applets)
	}
}

func TestHostDebianMirrorReadsBothSourceFormats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := map[string]string{
		"Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n": "http://mirror.example/debian",
		"deb [signed-by=/usr/share/keyrings/x.gpg] http://ftp.example.org/debian bookworm main\n":                                                                   "http://ftp.example.org/debian",
		"deb https://packages.example.com/apt stable main\n":                                                                                                        "",
	}
	i := 0
	for body, want := range tests {
		i++
		if got := testimages.MirrorIn(write(string(rune('a'+i))+".sources", body)); got != want {
			t.Errorf("mirror of %q = %q, want %q", body, got, want)
		}
	}
}

func TestDebianMinbaseTar(t *testing.T) {
	if testing.Short() {
		t.Skip("debootstrap fixture: not in -short")
	}
	hdrs, small := members(t, testimages.DebianMinbaseTar(t))
	if !strings.HasPrefix(small["etc/debian_version"], "12.") {
		t.Errorf("etc/debian_version = %q, want bookworm's 12.x", small["etc/debian_version"])
	}
	for _, p := range []string{"usr/bin/dpkg", "usr/bin/apt-get", "var/lib/dpkg/status", "etc/passwd"} {
		if hdrs[p] == nil {
			t.Errorf("%s missing from the minbase tree", p)
		}
	}
	if len(hdrs) < 5000 {
		t.Errorf("only %d members: not a Debian tree", len(hdrs))
	}
}
