package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bangerdev/banger/internal/cli"
	rt "github.com/bangerdev/banger/internal/imagepull/registrytest"
	"github.com/bangerdev/banger/pkg/api"
)

// runIn is run with stdin.
func runIn(host string, stdin []byte, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	app := &cli.App{Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := app.Run(append([]string{"--host", host}, args...))
	return out.String(), errb.String(), code
}

// The image lifecycle through the CLI and a real daemon: pull, tag, push
// to a second registry and pull back by digest, save in both formats,
// remove, load from a file and from stdin — the digest never changes —
// and a broken archive refused with nothing recorded.
func TestImageTagPushSaveLoad(t *testing.T) {
	td := imageDaemon(t)
	src, dst := rt.Start(t), rt.Start(t)
	img, err := rt.NewImage([]v1.Layer{rt.MustLayer(rt.File("etc/motd", "hello\n")), rt.MustLayer(rt.File("srv/app", "app\n"))},
		rt.WithConfig(v1.Config{Cmd: []string{"/srv/app"}}))
	if err != nil {
		t.Fatal(err)
	}
	ref, digest := src.Push(t, "app:1", img)
	mustRun(t, td.Host, "pull", ref)

	target := dst.Ref("team/app:2")
	if out := mustRun(t, td.Host, "image", "tag", ref, target); !strings.Contains(out, "Tagged "+target+" "+digest) {
		t.Errorf("tag said %q", out)
	}
	out, errOut, code := run(t, td.Host, "image", "push", target, "--format", "json")
	var pushed api.PushResult
	if code != 0 || json.Unmarshal([]byte(out), &pushed) != nil {
		t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
	}
	if pushed.Digest != digest || pushed.Reference != target || pushed.Uploaded != 2 {
		t.Fatalf("push answered %+v, want %s at %s with 2 layers uploaded", pushed, digest, target)
	}
	if !strings.Contains(errOut, "pushed") {
		t.Errorf("push showed no per-layer progress:\n%s", errOut)
	}
	byDigest := dst.Host + "/team/app@" + digest
	mustRun(t, td.Host, "pull", byDigest)
	if got := inspect(t, td.Host, byDigest); got.Digest != digest {
		t.Fatalf("pulled back by digest: %s", got.Digest)
	}

	dir := t.TempDir()
	for _, format := range []string{"oci", "docker"} {
		file := filepath.Join(dir, format+".tar")
		if out := mustRun(t, td.Host, "image", "save", ref, "-o", file, "--format", format); out != "" {
			t.Errorf("save -o printed %q", out)
		}
		mustRun(t, td.Host, "image", "rm", ref)
		out := mustRun(t, td.Host, "image", "load", "-i", file, "--format", "json")
		var loaded []api.Image
		if err := json.Unmarshal([]byte(out), &loaded); err != nil || len(loaded) != 1 || loaded[0].Digest != digest || loaded[0].Source != "load" {
			t.Fatalf("load --format json of the %s archive: %v\n%s", format, err, out)
		}
	}
	// save to stdout, load from stdin.
	archive, errOut, code := runIn(td.Host, nil, "image", "save", ref)
	if code != 0 || len(archive) < 1024 {
		t.Fatalf("save to stdout: exit %d, %d bytes: %s", code, len(archive), errOut)
	}
	mustRun(t, td.Host, "image", "rm", ref)
	out, errOut, code = runIn(td.Host, []byte(archive), "image", "load")
	if code != 0 || !strings.Contains(out, "Loaded "+ref) || !strings.Contains(out, digest) {
		t.Fatalf("load from stdin: exit %d\n%s%s", code, out, errOut)
	}

	// The shell completes image names and save's own formats.
	if got := complete(t, td.Host, "image", "push", ""); !slices.Contains(got, ref) {
		t.Errorf("completion of image push: %q", got)
	}
	if out, _, _ := run(t, td.Host, "__complete", "image", "save", ref, "--format", ""); !strings.HasPrefix(out, "oci\ndocker\n") {
		t.Errorf("completion of save --format: %q", out)
	}

	// Errors name the object and what to do.
	broken := filepath.Join(dir, "broken.tar")
	if err := os.WriteFile(broken, []byte(archive[:len(archive)/2]), 0o644); err != nil {
		t.Fatal(err)
	}
	before := mustRun(t, td.Host, "image", "ls", "-q")
	if _, errOut, code := run(t, td.Host, "image", "load", "-i", broken); code == 0 || !strings.Contains(errOut, broken) {
		t.Errorf("load of a truncated archive: exit %d: %s", code, errOut)
	}
	if after := mustRun(t, td.Host, "image", "ls", "-q"); after != before {
		t.Errorf("a failed load changed the catalog:\n%s\nwas\n%s", after, before)
	}
	if _, errOut, code := run(t, td.Host, "image", "save", "nothere:1", "-o", filepath.Join(dir, "x.tar")); code == 0 || !strings.Contains(errOut, "nothere") {
		t.Errorf("save of a missing image: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.tar")); err == nil {
		t.Error("a failed save left its file")
	}
	if _, errOut, code := run(t, td.Host, "image", "save", ref, "--format", "zip", "-o", filepath.Join(dir, "y.tar")); code == 0 || !strings.Contains(errOut, "want oci or docker") {
		t.Errorf("save --format zip: exit %d: %s", code, errOut)
	}
}
