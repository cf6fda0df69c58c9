package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/bangerdev/banger/internal/cli"
	"github.com/bangerdev/banger/internal/config"
	"github.com/bangerdev/banger/internal/daemon/daemontest"
	"github.com/bangerdev/banger/internal/imagepull/ext4test"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/internal/testutil"
	"github.com/bangerdev/banger/internal/testutil/testimages"
)

// imageJSON is what `image inspect --format json` must give.
type imageJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Digest       string    `json:"digest"`
	Rootfs       string    `json:"rootfs"`
	SizeBytes    int64     `json:"size_bytes"`
	Created      time.Time `json:"created"`
	AgentVersion string    `json:"agent_version"`
	AgentSHA256  string    `json:"agent_sha256"`
}

// imageDaemon starts a daemon whose guest agent is a stand-in binary.
func imageDaemon(t *testing.T) *daemontest.Daemon {
	t.Helper()
	testutil.RequireBinary(t, "debugfs", "e2fsprogs")
	agent := filepath.Join(t.TempDir(), "banger-agent")
	if err := os.WriteFile(agent, []byte("\x7fELF agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	return daemontest.Start(t, func(c *config.Config) { c.Image.AgentBinary = agent })
}

func inspect(t *testing.T, host, name string) imageJSON {
	t.Helper()
	out, errOut, code := run(t, host, "image", "inspect", name, "--format", "json")
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", name, code, errOut)
	}
	var imgs []imageJSON
	if err := json.Unmarshal([]byte(out), &imgs); err != nil || len(imgs) != 1 {
		t.Fatalf("inspect --format json is not a JSON array of one image: %v\n%s", err, out)
	}
	return imgs[0]
}

func TestImagePullInspectRemove(t *testing.T) {
	td := imageDaemon(t)
	reg := rt.Start(t)
	img, err := rt.NewImage([]v1.Layer{
		rt.MustLayer(rt.File("etc/os-release", "ID=synthetic\n"), rt.File("usr/bin/tool", "T").WithMode(0o4755)),
		rt.MustLayer(rt.Whiteout("usr/bin/tool"), rt.File("home/u/.rc", "rc").WithOwner(1000, 1000)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ref, digest := reg.Push(t, "synthetic/os:1", img)

	out, errOut, code := run(t, td.Host, "image", "pull", ref)
	if code != 0 || !strings.Contains(out, "Pulled "+ref+" "+digest) {
		t.Fatalf("pull: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "pull") || !strings.Contains(errOut, "rootfs") {
		t.Errorf("pull printed no per-layer progress lines on a non-terminal:\n%s", errOut)
	}
	got := inspect(t, td.Host, ref)
	if got.Name != ref || got.Digest != digest || !filepath.IsAbs(got.Rootfs) || got.SizeBytes < 64<<20 || got.Created.IsZero() || got.AgentVersion == "" || got.AgentSHA256 == "" {
		t.Fatalf("inspect = %+v", got)
	}
	if fi, err := os.Stat(got.Rootfs); err != nil || fi.Size() != got.SizeBytes {
		t.Fatalf("rootfs %s: %v (size_bytes %d)", got.Rootfs, err, got.SizeBytes)
	}
	im := ext4test.Open(t, got.Rootfs)
	im.Fsck()
	tree := im.Tree()
	if has(tree, "usr/bin/tool") || tree["home/u/.rc"].UID != 1000 || tree[".banger/agent"].Perm() != 0o755 {
		t.Fatalf("image content: tool %v, .rc %+v, agent %+v", has(tree, "usr/bin/tool"), tree["home/u/.rc"], tree[".banger/agent"])
	}

	out, _, code = run(t, td.Host, "image", "ls")
	if code != 0 || !strings.Contains(out, ref) || !strings.Contains(out, got.ID[:12]) {
		t.Fatalf("ls: exit %d\n%s", code, out)
	}
	out, _, code = run(t, td.Host, "image", "ls", "--format", "json")
	var list []imageJSON
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].ID != got.ID {
		t.Fatalf("ls --format json: exit %d\n%s", code, out)
	}
	_, errOut, code = run(t, td.Host, "image", "pull", ref)
	if code != 0 || !strings.Contains(errOut, "up to date") {
		t.Fatalf("second pull: exit %d, stderr %s", code, errOut)
	}
	if again := inspect(t, td.Host, ref); again.ID != got.ID {
		t.Fatalf("an up-to-date pull rebuilt the image: %s then %s", got.ID, again.ID)
	}

	out, errOut, code = run(t, td.Host, "image", "rm", ref)
	if code != 0 || !strings.Contains(out, "Removed") {
		t.Fatalf("rm: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(got.Rootfs); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rootfs after rm: %v", err)
	}
	_, errOut, code = run(t, td.Host, "image", "inspect", ref)
	if code != cli.ExitBanger || !strings.Contains(errOut, "not found") {
		t.Fatalf("inspect after rm: exit %d: %s", code, errOut)
	}
}

func has(tree map[string]ext4test.Inode, p string) bool { _, ok := tree[p]; return ok }

func TestFailedPullLeavesNoRecordAndNoFile(t *testing.T) {
	td := imageDaemon(t)
	reg := rt.Start(t)
	bad := rt.MustLayer(rt.File("ok", "fine"), rt.Symlink("etc/evil", "../../../etc/shadow"))
	img, err := rt.NewImage([]v1.Layer{bad})
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "hostile/link:1", img)
	d, _ := bad.Digest()
	_, errOut, code := run(t, td.Host, "image", "pull", ref)
	for _, want := range []string{ref, d.String(), `"etc/evil"`, "leaves the root"} {
		if code != cli.ExitBanger || !strings.Contains(errOut, want) {
			t.Errorf("pull of a hostile image: exit %d, stderr must name %q:\n%s", code, want, errOut)
		}
	}
	out, _, _ := run(t, td.Host, "image", "ls", "--format", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("a failed pull left a record: %s", out)
	}
	for _, dir := range []string{td.Layout.Images(), td.Layout.Tmp()} {
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("a failed pull left %d entries in %s", len(entries), dir)
		}
	}
	_, errOut, code = run(t, td.Host, "image", "pull", reg.Ref("absent:1"))
	if code != cli.ExitBanger || !strings.Contains(errOut, "absent") {
		t.Errorf("pull of a missing image: exit %d: %s", code, errOut)
	}
}

func TestImageImportFileAndStdin(t *testing.T) {
	td := imageDaemon(t)
	tarball := testimages.BusyboxRootfsTar(t)
	out, errOut, code := run(t, td.Host, "image", "import", tarball, "--name", "busybox:1", "--size", "100MiB")
	if code != 0 || !strings.Contains(out, "Imported busybox:1") {
		t.Fatalf("import FILE: exit %d\n%s%s", code, out, errOut)
	}
	got := inspect(t, td.Host, "busybox:1")
	if got.SizeBytes != 100<<20 {
		t.Errorf("--size 100MiB gave %d bytes", got.SizeBytes)
	}
	im := ext4test.Open(t, got.Rootfs)
	tree := im.Tree()
	if tree["bin/busybox"].Perm() != 0o755 || tree["home/"+testimages.UserName].UID != testimages.UserID || tree["tmp"].Perm() != 0o1777 {
		t.Errorf("busybox image: busybox %+v home %+v tmp %+v", tree["bin/busybox"], tree["home/user"], tree["tmp"])
	}
	if target := im.Readlink(tree["bin/sh"].Ino); target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", target)
	}

	data, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	app := &cli.App{Stdin: bytes.NewReader(data), Stdout: &stdout, Stderr: &stderr}
	if code := app.Run([]string{"--host", td.Host, "image", "import", "-", "--name", "busybox:stdin"}); code != 0 {
		t.Fatalf("import -: exit %d: %s", code, stderr.String())
	}
	if a, b := inspect(t, td.Host, "busybox:1"), inspect(t, td.Host, "busybox:stdin"); a.Digest != b.Digest {
		t.Errorf("the same tarball from a file and stdin: digests %s and %s", a.Digest, b.Digest)
	}
	_, errOut, code = run(t, td.Host, "image", "import", tarball)
	if code != cli.ExitBanger || !strings.Contains(errOut, "name") {
		t.Errorf("import without --name: exit %d: %s", code, errOut)
	}
}

// TestPullImageWithoutPlatform pulls what `crane append` makes — a config
// without os and architecture — and checks the platform is taken as the
// host's and said so.
func TestPullImageWithoutPlatform(t *testing.T) {
	td := imageDaemon(t)
	reg := rt.Start(t)
	img, err := mutate.AppendLayers(empty.Image, rt.MustLayer(rt.File("etc/motd", "appended\n")))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := reg.Push(t, "appended:1", img)
	out, errOut, code := run(t, td.Host, "pull", ref)
	if code != 0 || !strings.Contains(out, "Pulled "+ref) {
		t.Fatalf("pull: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "names no os/architecture; taking it as linux/amd64") {
		t.Errorf("pull did not say the platform was assumed:\n%s", errOut)
	}
	text := mustRun(t, td.Host, "image", "inspect", ref)
	if !strings.Contains(text, "linux/amd64 (assumed: the image's config names no os/architecture)") {
		t.Errorf("image inspect does not say the platform was assumed:\n%s", text)
	}
	if got := mustRun(t, td.Host, "image", "inspect", ref, "--format", "{{.Platform}} {{.PlatformAssumed}}"); got != "linux/amd64 true\n" {
		t.Errorf("platform fields: %q", got)
	}
}

// TestImportErrorsNameTheFile: a file that is not a tarball is named, as
// typed, with what is wrong with it, and no progress line claims it was
// extracted; xz and bzip2 tarballs import.
func TestImportErrorsNameTheFile(t *testing.T) {
	td := imageDaemon(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tarball := rt.MustTar(rt.Dir("etc"), rt.File("etc/hostname", "box\n"))
	gz, err := rt.Compress(tarball, rt.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		file string
		data []byte
		want string
	}{
		{"junk.bin", []byte(strings.Repeat("not a tarball\n", 100)), "junk.bin is not a tar archive"},
		{"tiny.bin", []byte("junk"), "tiny.bin is not a tar archive"},
		{"empty.tar", nil, "empty.tar is empty"},
		{"cut.tar.gz", gz[:len(gz)/2], "cut.tar.gz: gzip decompression failed: unexpected EOF (the file is truncated)"},
	} {
		p := write(tt.file, tt.data)
		out, errOut, code := run(t, td.Host, "image", "import", p, "--name", "junk")
		if code != cli.ExitBanger || !strings.Contains(errOut, p) || !strings.Contains(errOut, tt.want) {
			t.Errorf("import %s: exit %d\nstderr %s\nwant %q", tt.file, code, errOut, tt.want)
		}
		if strings.Contains(errOut, "extracted") || strings.Contains(out, "Imported") {
			t.Errorf("import %s claims success:\n%s%s", tt.file, out, errOut)
		}
	}

	for name, data := range map[string][]byte{"rootfs.tar.xz": compressWith(t, "xz", tarball), "rootfs.tar.bz2": compressWith(t, "bzip2", tarball)} {
		out, errOut, code := run(t, td.Host, "image", "import", write(name, data), "--name", "box:"+strings.TrimPrefix(filepath.Ext(name), "."))
		if code != 0 || !strings.Contains(out, "Imported box:") {
			t.Errorf("import %s: exit %d\n%s%s", name, code, out, errOut)
		}
	}

	junk := write("kernel.junk", []byte(strings.Repeat("junk", 300)))
	_, errOut, code := run(t, td.Host, "kernel", "import", "--upload", junk)
	if code != cli.ExitBanger || !strings.Contains(errOut, junk+" is not a kernel") || strings.Contains(errOut, "kernel-upload-") {
		t.Errorf("kernel import --upload junk: exit %d, stderr %q; want the user's file named", code, errOut)
	}
}

// compressWith compresses data with a compressor program (xz, bzip2).
func compressWith(t *testing.T, prog string, data []byte) []byte {
	t.Helper()
	testutil.RequireBinary(t, prog, prog)
	cmd := exec.CommandContext(t.Context(), prog, "-c")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", prog, err)
	}
	return out
}
