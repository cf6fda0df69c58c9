package imagepull_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/imagepull"
	"github.com/bangerdev/banger/internal/imagepull/blobcache"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
)

// capability is a security.capability value (cap_net_raw+ep, v2).
const capability = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// Names a debugfs batch could not carry, or would misread.
const (
	newlineName = "nl\n!touch owned #"
	quotedName  = `with space "and" 'quotes'`
	unicodeName = "données-ünïcödé ✓"
)

// richLayers is a three-layer image with everything the pipeline must get
// right: ownership, setuid, capabilities, hardlinks within and across
// layers whose targets are overwritten or deleted, whiteouts, an opaque
// directory, symlink chains, odd names, and device nodes to skip. Each layer
// uses a different compression.
func richLayers(t *testing.T) []v1.Layer {
	t.Helper()
	l0, err := rt.NewLayer(rt.Gzip,
		rt.Dir("etc"), rt.File("etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
		rt.File("etc/shadow", "root:*:1::::::\n").WithMode(0o640).WithOwner(0, 42),
		rt.Dir("usr/bin"), rt.File("usr/bin/passwd", "PASSWD").WithMode(0o4755),
		rt.File("usr/bin/ping", "PING").WithMode(0o755).WithXattr("security.capability", capability),
		rt.File("usr/bin/vim.basic", "VIM").WithMode(0o755),
		rt.Symlink("usr/bin/vim", "/usr/bin/vim.basic"), rt.Symlink("usr/bin/vi", "vim"),
		rt.File("bin/sh", "SHELL").WithMode(0o755), rt.Hardlink("bin/ash", "bin/sh"),
		rt.File("a", "old"), rt.Hardlink("b", "a"),
		rt.File("del", "doomed"), rt.Hardlink("del-link", "del"),
		rt.Dir("old"), rt.File("old/x", "x"),
		rt.Dir("home/user").WithMode(0o750).WithOwner(1000, 1000),
		rt.File("locked", "").WithMode(0),
		rt.File("bigids", "ids").WithOwner(100000, 200000),
		rt.Dir("tmp").WithMode(0o1777),
		rt.CharDev("dev/null", 1, 3), rt.Fifo("run/initctl"),
	)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := rt.NewLayer(rt.Zstd,
		rt.File("a", "new"), rt.Whiteout("del"),
		rt.Opaque("old"), rt.File("old/y", "y"),
		rt.Hardlink("usr/bin/passwd2", "usr/bin/passwd"),
		rt.File(newlineName, "newline"), rt.File(quotedName, "quoted"), rt.File(unicodeName, "unicode"),
	)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := rt.NewLayer(rt.Uncompressed,
		rt.File("home/user/.profile", "export PS1\n").WithOwner(1000, 1000).WithMode(0o600),
		rt.File("etc/note", "n").WithXattr("user.note", "hello"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return []v1.Layer{l0, l1, l2}
}

// agentFile is a stand-in guest agent: any static binary will do.
func agentFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "banger-agent")
	if err := os.WriteFile(p, []byte("\x7fELF stand-in agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func options(t *testing.T, cacheDir string) imagepull.Options {
	t.Helper()
	cache, err := blobcache.Open(cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	return imagepull.Options{
		Cache: cache, TmpDir: t.TempDir(), MaxLayerBytes: 1 << 30, HeadroomPercent: 20,
		Agent: imagepull.Agent{Path: agentFile(t), Version: "test-1"},
	}
}

func pull(t *testing.T, ref string, opts imagepull.Options) (*imagepull.Image, string, error) {
	t.Helper()
	r, err := imagepull.Resolve(t.Context(), ref, imagepull.RegistryOptions{})
	if err != nil {
		return nil, "", err
	}
	out := filepath.Join(t.TempDir(), "rootfs.ext4")
	img, err := imagepull.Pull(t.Context(), r, out, opts)
	return img, out, err
}

func TestPullWritesEveryInodeRight(t *testing.T) {
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	reg := rt.Start(t)
	img, err := rt.NewImage(richLayers(t), rt.WithConfig(v1.Config{Entrypoint: []string{"/bin/sh"}, Env: []string{"A=1"}}))
	if err != nil {
		t.Fatal(err)
	}
	ref, digest := reg.Push(t, "rich/image:v1", img)
	opts := options(t, t.TempDir())

	res, out, err := pull(t, ref, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != digest || len(res.Layers) != 3 || res.Skipped != 2 || res.Config.Entrypoint[0] != "/bin/sh" {
		t.Fatalf("result = %+v, want digest %s, 3 layers, 2 skipped", res, digest)
	}

	im := ext4test.Open(t, out)
	im.Fsck()
	tree := im.Tree()
	type want struct {
		typ, perm, uid, gid uint32
		data                string
	}
	reg0, dir, lnk := uint32(ext4test.TypeReg), uint32(ext4test.TypeDir), uint32(ext4test.TypeLink)
	wants := map[string]want{
		"etc/shadow":         {reg0, 0o640, 0, 42, "root:*:1::::::\n"},
		"usr/bin/passwd":     {reg0, 0o4755, 0, 0, "PASSWD"},
		"usr/bin/passwd2":    {reg0, 0o4755, 0, 0, "PASSWD"},
		"usr/bin/ping":       {reg0, 0o755, 0, 0, "PING"},
		"usr/bin/vim":        {lnk, 0o777, 0, 0, "/usr/bin/vim.basic"},
		"usr/bin/vi":         {lnk, 0o777, 0, 0, "vim"},
		"bin/ash":            {reg0, 0o755, 0, 0, "SHELL"},
		"a":                  {reg0, 0o644, 0, 0, "new"},
		"b":                  {reg0, 0o644, 0, 0, "old"},
		"del-link":           {reg0, 0o644, 0, 0, "doomed"},
		"old/y":              {reg0, 0o644, 0, 0, "y"},
		"home/user":          {dir, 0o750, 1000, 1000, ""},
		"home/user/.profile": {reg0, 0o600, 1000, 1000, "export PS1\n"},
		"locked":             {reg0, 0, 0, 0, ""},
		"bigids":             {reg0, 0o644, 100000, 200000, "ids"},
		"tmp":                {dir, 0o1777, 0, 0, ""},
		newlineName:          {reg0, 0o644, 0, 0, "newline"},
		quotedName:           {reg0, 0o644, 0, 0, "quoted"},
		unicodeName:          {reg0, 0o644, 0, 0, "unicode"},
		".banger":            {dir, 0o755, 0, 0, ""},
		".banger/agent":      {reg0, 0o755, 0, 0, "\x7fELF stand-in agent"},
	}
	for p, w := range wants {
		in, ok := tree[p]
		if !ok {
			t.Errorf("%q missing from the image", p)
			continue
		}
		if in.Type() != w.typ || in.Perm() != w.perm || in.UID != w.uid || in.GID != w.gid {
			t.Errorf("%q: type %o perm %o owner %d:%d, want %o %o %d:%d", p, in.Type(), in.Perm(), in.UID, in.GID, w.typ, w.perm, w.uid, w.gid)
		}
		var got string
		switch w.typ {
		case reg0:
			got = string(im.Cat(in.Ino))
		case lnk:
			got = im.Readlink(in.Ino)
		}
		if got != w.data {
			t.Errorf("%q holds %q, want %q", p, got, w.data)
		}
	}
	for _, p := range []string{"del", "old/x", "dev/null", "run/initctl", ".banger/.inode-reserve"} {
		if _, ok := tree[p]; ok {
			t.Errorf("%q is in the image, want it gone", p)
		}
	}
	same := func(a, b string) bool { return tree[a].Ino == tree[b].Ino }
	if !same("bin/sh", "bin/ash") || !same("usr/bin/passwd", "usr/bin/passwd2") || same("a", "b") {
		t.Errorf("hardlinks: sh/ash %d/%d passwd/passwd2 %d/%d a/b %d/%d", tree["bin/sh"].Ino, tree["bin/ash"].Ino,
			tree["usr/bin/passwd"].Ino, tree["usr/bin/passwd2"].Ino, tree["a"].Ino, tree["b"].Ino)
	}
	if v, ok := im.Xattr(tree["usr/bin/ping"].Ino, "security.capability"); !ok || string(v) != capability {
		t.Errorf("ping's security.capability = %x (present %v), want %x", v, ok, capability)
	}
	if v, _ := im.Xattr(tree["etc/note"].Ino, "user.note"); string(v) != "hello" {
		t.Errorf("user.note = %q", v)
	}
	sum := sha256.Sum256([]byte("\x7fELF stand-in agent"))
	marker := string(im.Cat(tree[".banger/version"].Ino))
	if res.AgentSHA256 != hex.EncodeToString(sum[:]) || marker != "banger_version=test-1\nagent_sha256="+res.AgentSHA256+"\n" {
		t.Errorf("agent sha %q, marker %q", res.AgentSHA256, marker)
	}

	sb := im.Super()
	free, _ := ext4Int(sb["Free inodes"])
	if f := sb["Filesystem features"]; !strings.Contains(f, "has_journal") || strings.Contains(f, "read-only") {
		t.Errorf("features %q: want a journal and no read-only", f)
	}
	if sb["Filesystem UUID"] == "<none>" || free < 8000 || res.SizeBytes < imagepull.MinSize {
		t.Errorf("uuid %q, %d free inodes, size %d: want a UUID, >= 8000 free inodes, >= 64MiB", sb["Filesystem UUID"], free, res.SizeBytes)
	}
	if _, err := os.Stat("owned"); err == nil {
		t.Error("a name with a debugfs shell escape ran a command")
	}
}

func ext4Int(s string) (int64, error) {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}
